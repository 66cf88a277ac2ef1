"""check_strategy on every registered strategy, and on broken toys it must catch."""

from __future__ import annotations

import numpy as np
import pytest

from hpcopt.testing.checks.strategy import check_space, check_strategy, objective
from hpcopt.tune.strategies import STRATEGIES
from hpcopt.tune.strategies.base import Strategy
from hpcopt.tune.strategies.native import GeneticAlgorithm, GreedyLocalSearch, GridSearch, RandomSearch

pytest.importorskip("sklearn")
pytest.importorskip("optuna")


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_registered_strategy_conforms(name):
    checked = check_strategy(STRATEGIES.get(name))
    assert checked["replay_budget"] == 15
    assert checked["validated_parameters"] == len(STRATEGIES.get(name)._parameter_constraints)
    if STRATEGIES.get(name).distinct:  # the whole space, and not one configuration more
        assert checked["exhausted_after"] == len(check_space().valid_points()) == 48


def test_a_configured_instance_is_checked_through_clone():
    assert check_strategy(GreedyLocalSearch(restart_from_best=0.9), budget=10)["proposals"] >= 10


def test_the_check_space_and_objective_by_hand():
    sp = check_space()
    assert sp.cartesian_size() == 60 and len(sp.valid_points()) == 48  # 6 + 6 + 6 + 4 + 2, times 2
    assert objective({"a": 4, "b": 2, "c": "v"}).value == 1.0  # the minimum
    assert not objective({"a": 16, "b": 1, "c": "u"}).ok


# ------------------------------------------------------------------ broken toys
class OutOfSpace(RandomSearch):
    def ask(self):
        cfg = super().ask()
        return None if cfg is None else {**cfg, "b": 99}


class IgnoresForeignTells(RandomSearch):
    """What random search did before: a configuration told by a resumed study came again."""

    def tell(self, config, result):
        pass


class Unseeded(RandomSearch):
    def _setup(self):
        super()._setup()
        self._order = np.random.default_rng().permutation(len(self.points_))


class BreaksConstraints(Strategy):
    needs_enumeration = False
    name = "cartesian"

    def _setup(self):
        import itertools

        # largest values first: a = 16, b = 5 breaks a * b <= 24 at once
        self._it = itertools.product(*[p.values()[::-1] for p in self.space_.parameters])

    def ask(self):
        return self.space_.to_config(next(self._it))


class RenamesItsParameter(GreedyLocalSearch):
    def __init__(self, restart: float = 0.5):
        self.restart_from_best = restart


class GivesUpEarly(GridSearch):
    def ask(self):
        return None if self.visited_.sum() >= 10 else super().ask()


class AcceptsTwoObjectives(RandomSearch):
    def setup(self, space, random_state=None, n_objectives=1):
        return super().setup(space, random_state, 1)


class MutatesTold(GridSearch):
    def tell(self, config, result):
        super().tell(config, result)
        config["a"] = 1


class RepairsBadParameters(GeneticAlgorithm):
    """Swallows the validation error and carries on with a default: the bad value goes unnoticed."""

    def setup(self, space, random_state=None, n_objectives=1):
        from hpcopt.errors import ConfigError

        try:
            return super().setup(space, random_state, n_objectives)
        except ConfigError:
            self.set_params(**GeneticAlgorithm().get_params())
            return super().setup(space, random_state, n_objectives)


class NeverStops(GridSearch):
    def ask(self):
        cfg = super().ask()
        return cfg if cfg is not None else self._config(0)


@pytest.mark.parametrize("toy, message", [
    (OutOfSpace, "outside the space"),
    (IgnoresForeignTells, "again although its result was told"),
    (Unseeded, "not deterministic"),
    (BreaksConstraints, "breaks the constraint"),
    (RenamesItsParameter, "get_params"),
    (GivesUpEarly, "returned None after 10 of the 48"),
    (AcceptsTwoObjectives, "accepted a study with two"),
    (MutatesTold, "mutated the configuration"),
    (NeverStops, "again although its result was told"),
    (RepairsBadParameters, "accepted population_size='not-a-valid-value'"),
])
def test_broken_strategies_are_caught(toy, message):
    with pytest.raises(AssertionError, match=message):
        check_strategy(toy)


def test_bad_parameters_get_scikit_learn_shaped_errors():
    from hpcopt.errors import ConfigError
    from hpcopt.tune.strategies import get_strategy

    with pytest.raises(ConfigError, match=r"The 'population_size' parameter of GeneticAlgorithm must be an int in "
                                          r"the range \[2, inf\); got 1 instead"):
        get_strategy("ga", population_size=1).setup(check_space(), random_state=0)
    with pytest.raises(ConfigError, match="'acquisition' parameter of BayesianOptimization must be one of 'ei'"):
        get_strategy("bo", acquisition="pi").setup(check_space(), random_state=0)


def test_a_factory_must_return_a_strategy():
    with pytest.raises(AssertionError, match="not a Strategy"):
        check_strategy(lambda: object())
