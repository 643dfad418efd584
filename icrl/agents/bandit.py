"""Agents for multi-armed bandits: random collectors, ε-greedy, UCB1, Thompson sampling.

They ignore observations (a bandit has one dummy state), so they also run on
any gymnax environment with a discrete action space.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import struct

from envs.base import check_positive_int
from icrl.agents import sampling
from icrl.agents.base import Transition


def _check(name: str, value: float, low: float, high: float | None = None) -> float:
    ok = value >= low if high is None else low <= value <= high
    if not ok:
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def _check_arms(num_actions: int) -> None:
    check_positive_int("num_actions", num_actions)


@struct.dataclass
class ArmStats:
    """Per-arm pull counts and reward sums: ``counts, sums: (num_actions,) float32``."""

    counts: jax.Array
    sums: jax.Array

    @classmethod
    def zeros(cls, num_actions: int) -> "ArmStats":
        return cls(jnp.zeros(num_actions, jnp.float32), jnp.zeros(num_actions, jnp.float32))

    @classmethod
    def of(cls, action: jax.Array, reward: jax.Array, num_actions: int) -> "ArmStats":
        """The statistics of a whole sequence of pulls at once: ``action, reward: (..., T)``
        give ``counts, sums: (..., num_actions)`` (what ``T`` calls of :meth:`add` keep)."""
        pulls = jax.nn.one_hot(action, num_actions, dtype=jnp.float32)
        return cls(pulls.sum(-2), (pulls * jnp.asarray(reward, jnp.float32)[..., None]).sum(-2))

    def add(self, action, reward) -> "ArmStats":
        return ArmStats(self.counts.at[action].add(1.0), self.sums.at[action].add(reward))

    @property
    def means(self) -> jax.Array:
        return self.sums / jnp.maximum(self.counts, 1.0)


class _CountingAgent:
    """Shared ``init``/``update`` of agents whose state is :class:`ArmStats`."""

    num_actions: int

    def __post_init__(self):
        _check_arms(self.num_actions)

    def init(self, key, env_params=None) -> ArmStats:
        return ArmStats.zeros(self.num_actions)

    def update(self, state: ArmStats, transition: Transition) -> ArmStats:
        return state.add(transition.action, transition.reward)


@dataclass(frozen=True)
class RandomAgent:
    """Uniformly random actions."""

    num_actions: int

    def __post_init__(self):
        _check_arms(self.num_actions)

    def init(self, key, env_params=None):
        return ()

    def act(self, key, state, obs):
        return jax.random.randint(key, (), 0, self.num_actions, jnp.int32), state

    def update(self, state, transition):
        return state


@dataclass(frozen=True)
class DirichletRandomAgent:
    """Each task draws action probabilities ``p ~ Dirichlet(alpha · 1)`` and samples
    every action from ``p`` (DPT's data collector: contexts skewed towards some arms).

    ``point_mass=True`` follows the reference DPT code: ``p`` is mixed with a point
    mass on one uniformly chosen arm, ``(1 - w) p + w e_arm``, the weight ``w``
    uniform over ``{0, 0.1, …, 1}``, so some contexts pull one arm almost only.
    """

    num_actions: int
    alpha: float = 1.0
    point_mass: bool = False

    def __post_init__(self):
        _check_arms(self.num_actions)
        if not self.alpha > 0:
            raise ValueError(f"alpha must be > 0, got {self.alpha!r}")

    def init(self, key, env_params=None):
        if not self.point_mass:
            return jnp.log(jax.random.dirichlet(key, jnp.full((self.num_actions,), self.alpha)) + 1e-30)
        k_dir, k_weight, k_arm = jax.random.split(key, 3)
        probs = jax.random.dirichlet(k_dir, jnp.full((self.num_actions,), self.alpha))
        weight = jax.random.randint(k_weight, (), 0, 11) / 10.0
        arm = jax.nn.one_hot(jax.random.randint(k_arm, (), 0, self.num_actions), self.num_actions)
        return jnp.log((1.0 - weight) * probs + weight * arm + 1e-30)

    def act(self, key, state, obs):
        return jax.random.categorical(key, state).astype(jnp.int32), state

    def update(self, state, transition):
        return state


@dataclass(frozen=True)
class EpsilonGreedyAgent(_CountingAgent):
    """Greedy on empirical means, random with probability ``epsilon``; untried arms first."""

    num_actions: int
    epsilon: float = 0.1

    def __post_init__(self):
        super().__post_init__()
        _check("epsilon", self.epsilon, 0.0, 1.0)

    def act(self, key, state: ArmStats, obs):
        k_explore, k_arm = jax.random.split(key)
        greedy = jnp.argmax(jnp.where(state.counts == 0, jnp.inf, state.means))
        random = jax.random.randint(k_arm, (), 0, self.num_actions)
        explore = jax.random.uniform(k_explore) < self.epsilon
        return jnp.where(explore, random, greedy).astype(jnp.int32), state


@dataclass(frozen=True)
class UCBAgent(_CountingAgent):
    """UCB1: ``argmax mean + c · sqrt(2 ln t / n)``; each arm is pulled once first."""

    num_actions: int
    c: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        _check("c", self.c, 0.0)

    def act(self, key, state: ArmStats, obs):
        t = jnp.maximum(jnp.sum(state.counts), 1.0)
        bonus = self.c * jnp.sqrt(2.0 * jnp.log(t) / jnp.maximum(state.counts, 1.0))
        score = jnp.where(state.counts == 0, jnp.inf, state.means + bonus)
        return jnp.argmax(score).astype(jnp.int32), state


@dataclass(frozen=True)
class BernoulliThompsonAgent(_CountingAgent):
    """Thompson sampling with a ``Beta(prior_a, prior_b)`` prior per arm (rewards in [0, 1]).

    Posterior draws use :func:`icrl.agents.sampling.beta` (a fixed-proposal
    Marsaglia–Tsang sampler, within 1e-5 total variation of the exact law).
    """

    num_actions: int
    prior_a: float = 1.0
    prior_b: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if not (self.prior_a > 0 and self.prior_b > 0):
            raise ValueError(f"Beta prior must be positive, got ({self.prior_a!r}, {self.prior_b!r})")

    def act(self, key, state: ArmStats, obs):
        theta = sampling.beta(
            key,
            self.prior_a + state.sums,
            self.prior_b + state.counts - state.sums,
            shape_at_least_one=min(self.prior_a, self.prior_b) >= 1.0,
        )
        return jnp.argmax(theta).astype(jnp.int32), state


@dataclass(frozen=True)
class GaussianThompsonAgent(_CountingAgent):
    """Thompson sampling for Gaussian rewards with known ``noise_std`` and a
    ``N(prior_mean, prior_std**2)`` prior per arm (conjugate posterior)."""

    num_actions: int
    noise_std: float = 0.3
    prior_mean: float = 0.5
    prior_std: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if not (self.noise_std > 0 and self.prior_std > 0):
            raise ValueError(f"noise_std and prior_std must be > 0, got {self.noise_std!r}, {self.prior_std!r}")

    def act(self, key, state: ArmStats, obs):
        precision = 1.0 / self.prior_std**2 + state.counts / self.noise_std**2
        mean = (self.prior_mean / self.prior_std**2 + state.sums / self.noise_std**2) / precision
        sample = mean + jax.random.normal(key, mean.shape) / jnp.sqrt(precision)
        return jnp.argmax(sample).astype(jnp.int32), state
