"""Running a task the way every face does: resolve model references, run, record, register.

``run_task("detect.evaluate", series="...", detector="mad")`` is what the CLI, the REST
service and the MCP server call. It

1. looks the task up in :data:`hpcopt.core.tasks.TASKS` ("did you mean" on a typo);
2. replaces every parameter value of the form ``model:NAME``, ``model:NAME@ALIAS`` or
   ``model:NAME:VERSION`` with the verified path of that registered model, and notes the
   model version as an input of the run (lineage);
3. runs the task inside :meth:`Store.record` unless ``record=False`` -- the run row holds
   the parameters, input hashes, seed, versions, result, artifacts and status;
4. with ``register="NAME"``, registers the model directory the task wrote (its ``model``
   artifact) as the next version of ``NAME``, with the run as its lineage.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hpcopt.core.results import Result
from hpcopt.core.tasks import TASKS, TaskSpec, import_all_tasks
from hpcopt.errors import ConfigError

__all__ = ["run_task", "resolve_model_ref", "MODEL_REF"]

MODEL_REF = re.compile(r"^model:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,199}?)(?:@(?P<alias>[A-Za-z0-9._-]+)|:(?P<version>\d+))?$")


def get_task(name: str | TaskSpec) -> TaskSpec:
    if isinstance(name, TaskSpec):
        return name
    if name not in TASKS:
        import_all_tasks()
    return TASKS.get(name)


def resolve_model_ref(value: str, store) -> tuple[Path, str] | None:
    """``(path, "name:version")`` for a ``model:...`` reference, ``None`` for any other string."""
    m = MODEL_REF.match(value)
    if m is None:
        return None
    version = int(m["version"]) if m["version"] else None
    rec = store.models.get(m["name"], version, alias=m["alias"])
    return store.models.path(rec.name, rec.version), f"{rec.name}:{rec.version}"


def run_task(name: str | TaskSpec, /, *, record: bool = True, store=None, register: str | None = None,
             register_alias: str | None = None, **params: Any) -> Result:
    """Run the task ``name`` with ``params``; see the module docstring."""
    spec = get_task(name)
    needs_store = record or register is not None or any(
        isinstance(v, str) and v.startswith("model:") for v in params.values())
    if needs_store and store is None:
        from hpcopt.store import open_store

        store = open_store()
    used: list[str] = []
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("model:"):
            if store is None:  # pragma: no cover - needs_store covers it
                raise ConfigError("a model: reference needs the store")
            resolved = resolve_model_ref(value, store)
            if resolved is None:
                raise ConfigError(f"the {key!r} parameter {value!r} is not a model reference; write "
                                  "model:NAME, model:NAME@ALIAS or model:NAME:VERSION")
            params[key], ref = resolved
            used.append(ref)
    if register is not None and "model" not in spec.outputs:
        raise ConfigError(f"the task {spec.name!r} writes no model to register")
    if not record:
        result = spec(**params)
        _register(store, register, register_alias, spec, result, run_id=None)
        return result
    seed = params.get(spec.seed) if spec.seed else None
    from hpcopt.core.provenance import hash_inputs
    from hpcopt.core.tasks import describe_parameter, input_files

    hashes = hash_inputs(input_files(params, spec.inputs))  # once, for the run row and the result
    with store.record(spec.name, parameters={k: describe_parameter(v) for k, v in params.items() if k != "progress"},
                      input_hashes=hashes, seed=seed if isinstance(seed, int) else None,
                      libraries=spec.libraries) as run:
        for ref in used:
            n, v = ref.rsplit(":", 1)
            run.used_model(n, int(v))
        result = spec.run_hashed(params, hashes) if spec.run_hashed is not None else spec(**params)
        result.provenance.run_id = run.id
        for art, path in result.artifacts.items():
            run.add_artifact(art, path)
        _register(store, register, register_alias, spec, result, run_id=run.id)
        run.set_result(result)
    return result


def _register(store, name: str | None, alias: str | None, spec: TaskSpec, result: Result,
              run_id: str | None) -> None:
    if name is None:
        return
    path = result.artifacts.get("model")
    if path is None:
        raise ConfigError(f"the task {spec.name!r} wrote no model this time, so nothing was registered")
    meta = result.payload.get("model_meta") if isinstance(result.payload.get("model_meta"), dict) else {}
    metrics = result.payload.get("metrics") if isinstance(result.payload.get("metrics"), dict) else {}
    kind = str(result.payload.get("model_kind") or spec.name.split(".")[0])
    rec = store.models.register(name, path, kind=kind, meta={"task": spec.name, **meta},
                                metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
                                run_id=run_id)
    if alias is not None:
        rec = store.models.set_alias(name, alias, rec.version)
    result.payload["registered"] = {"name": rec.name, "version": rec.version, "alias": alias,
                                    "path": rec.path}
