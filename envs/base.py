"""Shared contract of icrl's task environments.

Every environment here is a gymnax ``Environment`` whose hidden task lives in
``EnvParams``: a batch of tasks is one pytree with a leading axis, and
``jax.vmap`` over it runs many different tasks at once. On top of gymnax each
environment offers

- ``sample_tasks(key, num_tasks, split)``: tasks from a fixed train/test split;
- ``horizon``: the fixed episode length (episodes never end early, so a
  multi-episode rollout has a static shape);
- oracles: ``optimal_action`` for an environment state, ``optimal_return`` of a
  task, and (bandits) ``expected_rewards`` of every arm;
- the oracle-agent hooks ``oracle_init`` / ``oracle_act`` / ``oracle_update``
  that let an agent which knows the task play optimally from observations alone;
- optionally ``transition_reward(obs, action, next_obs, params, memory)``, the
  reward a task gives for a transition given its oracle's memory, where rewards
  are deterministic (the grid worlds): with ``task_pool`` it lets
  ``icrl.agents.posterior`` compute the exact posterior.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import environment

SPLITS = ("train", "test", "all")
SIGNATURE_KEYS = ("name", "num_actions", "obs_shape", "horizon", "kwargs")


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``int(value)`` if it is an integer ``>= minimum``, else a ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def keyword_defaults(target) -> dict[str, Any] | None:
    """Keyword arguments ``target`` (a class or function) accepts, each with its default
    (``inspect.Parameter.empty`` where it has none; the nearest class's where several give one),
    following ``**kwargs`` up a class's bases; ``None`` if it takes arbitrary keywords."""
    found: dict[str, Any] = {}
    for fn in ([c.__init__ for c in target.__mro__ if "__init__" in vars(c)] if inspect.isclass(target) else [target]):
        params = inspect.signature(fn).parameters.values()
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                found.setdefault(p.name, p.default)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return found
    return None


def accepted_keywords(target) -> set[str] | None:
    """Keyword arguments ``target`` (a class or function) accepts, following ``**kwargs``
    up a class's bases; ``None`` if it takes arbitrary keywords."""
    defaults = keyword_defaults(target)
    return None if defaults is None else set(defaults)


def check_keywords(target, kwargs: dict, what: str) -> None:
    """``ValueError`` naming the keywords of ``kwargs`` that ``target`` does not take (checked
    against its signature before it is called, so errors raised inside it pass unchanged)."""
    accepted = accepted_keywords(target)
    unknown = sorted(set(kwargs) - accepted) if accepted is not None else []
    if unknown:
        raise ValueError(f"bad arguments for {what}: unknown keyword(s) {unknown}; it takes {sorted(accepted)}")


def is_bandit(env) -> bool:
    """Whether ``env`` knows every arm's expected reward (bandits: per-step regret is
    defined) rather than being episodic (grid worlds: returns per episode are reported)."""
    return hasattr(env, "expected_rewards")


def signature(env) -> dict:
    """What a dataset or checkpoint records about its environment, and checks on load."""
    name, kwargs = getattr(env, "make_args", (env.name, {}))
    return {
        "name": name,
        "kwargs": kwargs,
        "num_actions": int(env.num_actions),
        "obs_shape": list(env.observation_space(env.default_params).shape),
        "horizon": int(getattr(env, "horizon", 0)),
    }


def check_signature(recorded: dict, env, what: str) -> None:
    """Raise ``ValueError`` naming the first field where ``recorded`` differs from ``env``'s signature."""
    expected = signature(env)
    for key in SIGNATURE_KEYS:
        if recorded.get(key) != expected[key]:
            raise ValueError(
                f"{what} was made for environment {recorded.get('name')!r} with {key}={recorded.get(key)!r}, "
                f"but this environment ({expected['name']!r}) has {key}={expected[key]!r}"
            )


class TaskEnvironment(environment.Environment):
    """Base class: a gymnax environment with a task distribution and oracles."""

    #: Fixed episode length; ``rollout(num_episodes=k)`` runs ``k * horizon`` steps.
    horizon: int

    def sample_tasks(self, key: jax.Array, num_tasks: int, split: str = "train"):
        """Draw ``num_tasks`` tasks from ``split``; leaves get a leading task axis."""
        raise NotImplementedError

    #: Whether :meth:`optimal_return` is known; where it is not, evaluation reports returns without fractions of it.
    knows_optimal_return: bool = True

    def optimal_return(self, params) -> jax.Array:
        """Optimal expected return of one episode of the task ``params``."""
        raise NotImplementedError

    # DPT's query states and their labels.
    def sample_query_obs(self, key: jax.Array, shape: tuple = ()) -> jax.Array:
        """Observations to query a model with, uniform over the state space: ``(*shape, *obs_shape)``."""
        raise ValueError(f"environment {self.name!r} has no query-state distribution for DPT")

    def optimal_action_for_obs(self, obs: jax.Array, params) -> jax.Array:
        """The optimal action in the state seen as ``obs`` (where the observation determines it)."""
        raise ValueError(f"environment {self.name!r}: the observation does not determine the optimal action")

    # Oracle-agent hooks: an agent that knows ``params`` acts optimally from
    # observations alone, keeping whatever memory the observation lacks.
    def oracle_init(self, params) -> Any:
        return jnp.zeros((), jnp.int32)

    def oracle_act(self, memory, obs, params) -> jax.Array:
        raise NotImplementedError

    def oracle_update(self, memory, transition, params) -> Any:
        return memory

    def best_return_to_go(self, obs, memory, steps_left, params) -> jax.Array:
        """The most reward ``steps_left`` more steps can collect from ``obs`` (with the oracle's
        ``memory``): the ε-greedy oracle's data record it (ICEE's in-episode condition)."""
        raise NotImplementedError(f"{type(self).__name__} does not give the best return to go of a state")

    def is_terminated(self, state, params) -> jax.Array:
        return jnp.array(False)
