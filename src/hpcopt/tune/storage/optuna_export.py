"""Copy an hpcopt study into an Optuna storage, so that ``optuna-dashboard <url>`` and
``optuna.visualization`` can show it. A one-way snapshot: hpcopt keeps working on its own
storage (see :mod:`hpcopt.tune.storage` for why it does not run on Optuna's)."""

from __future__ import annotations

import datetime as _dt
import warnings
from typing import Any

from hpcopt.errors import InputError, require
from hpcopt.tune.space import Categorical, Integer, Ordinal, PowerOfTwo, Real, space_from_dict
from hpcopt.tune.storage.base import Storage, Trial, stored_objectives

#: hpcopt trial states and what they become in Optuna (failed results are FAIL too);
#: running trials are not copied (a snapshot would leave them running forever)
STATE_MAP = {"done": "COMPLETE", "interrupted": "FAIL", "retried": "FAIL"}


def _distribution(optuna, p) -> Any:
    d = optuna.distributions
    if isinstance(p, Real):
        return d.FloatDistribution(p.low, p.high, log=p.log)
    if isinstance(p, Integer) and (not p.log or p.step == 1) and (p.high - p.low) % p.step == 0:
        return d.IntDistribution(p.low, p.high, log=p.log, step=p.step)
    if isinstance(p, (Integer, Categorical, Ordinal, PowerOfTwo)):
        return d.CategoricalDistribution(list(p.values()))
    raise InputError(f"parameter {p.name!r} of type {type(p).__name__} has no Optuna distribution")


def _when(t: float | None) -> _dt.datetime | None:
    return None if t is None else _dt.datetime.fromtimestamp(t)


def _frozen(optuna, t: Trial, dists: dict[str, Any], n_obj: int) -> Any:
    """The Optuna trial for an hpcopt trial (None for a running one)."""
    TS = optuna.trial.TrialState
    if t.state not in STATE_MAP:
        return None
    res = t.result
    values = None
    state = TS[STATE_MAP[t.state]]
    if state is TS.COMPLETE:
        vals = list(res.values or (res.value,)) if res is not None and res.ok else []
        if len(vals) == n_obj:
            values = [float(v) for v in vals]
        else:
            state = TS.FAIL
    user = {"hpcopt_number": t.number, "hpcopt_state": t.state, "hpcopt_source": t.source}
    if res is not None:
        user.update(hpcopt_status=res.status.value, hpcopt_samples=list(res.samples))
        if res.message:
            user["hpcopt_message"] = res.message
        if res.spread is not None:
            user["hpcopt_spread"] = res.spread
    params = {k: t.config[k] for k in dists if k in t.config}
    extra = {k: v for k, v in t.config.items() if k not in dists}
    if extra:
        user["hpcopt_derived"] = extra
    return optuna.trial.FrozenTrial(
        number=0, state=state, value=None, values=values, datetime_start=_when(t.started),
        datetime_complete=_when(t.finished if t.finished is not None else t.started), params=params,
        distributions={k: dists[k] for k in params}, user_attrs=user, system_attrs={},
        intermediate_values={}, trial_id=0)


def to_optuna(storage: str | Storage, study: str, optuna_storage: str, optuna_study: str | None = None):
    """Copy study ``study`` of an hpcopt storage into a new study of the Optuna storage
    ``optuna_storage`` (an RDB URL such as ``sqlite:///optuna.db``, or an Optuna storage
    object), named ``optuna_study`` (default: the same name). Finished trials become
    COMPLETE with their objective values; failed, interrupted and retried ones FAIL; each
    keeps its hpcopt number, state, source, status, message and samples as user
    attributes (``hpcopt_*``); running trials are left out. Returns the Optuna study."""
    optuna = require("optuna", "tune")
    from hpcopt.tune.storage import get_storage

    st = get_storage(storage)
    info = st.study_info(study)
    space = space_from_dict(info["space"])
    names, directions = stored_objectives(info)
    dists = {p.name: _distribution(optuna, p) for p in space.parameters}
    target = optuna_study or study
    try:
        ostudy = optuna.create_study(storage=optuna_storage, study_name=target, directions=directions)
    except optuna.exceptions.DuplicatedStudyError:
        raise InputError(f"the Optuna storage has a study named {target!r} already", source=str(optuna_storage),
                         hint="give another Optuna study name or a new Optuna storage") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ostudy.set_metric_names(list(names))
    ostudy.set_user_attr("hpcopt_study", study)
    ostudy.set_user_attr("hpcopt_storage", st.path)
    if info.get("strategy") is not None:
        ostudy.set_user_attr("hpcopt_strategy", str(info["strategy"]))
    fingerprint = st.study_fingerprint(study)
    if fingerprint:
        ostudy.set_user_attr("hpcopt_fingerprint", fingerprint)
    trials = [f for f in (_frozen(optuna, t, dists, len(names)) for t in st.history(study)) if f is not None]
    ostudy.add_trials(trials)
    return ostudy


__all__ = ["to_optuna", "STATE_MAP"]
