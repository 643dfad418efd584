"""One rollout for every agent: ``jit`` · ``vmap`` over tasks · ``lax.scan`` over steps."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from envs.base import check_positive_int, is_bandit
from icrl.agents.base import Agent
from icrl.types import History, Transition


def _check_steps(env, num_steps: int | None, num_episodes: int | None) -> int:
    if (num_steps is None) == (num_episodes is None):
        raise ValueError(f"give exactly one of num_steps and num_episodes, got num_steps={num_steps!r}, num_episodes={num_episodes!r}")
    if num_episodes is not None:
        if not hasattr(env, "horizon"):
            raise ValueError(
                f"num_episodes needs an environment with a fixed episode length (an envs.TaskEnvironment); "
                f"{getattr(env, 'name', env)!r} has none, pass num_steps instead"
            )
        return check_positive_int("num_episodes", num_episodes) * env.horizon
    return check_positive_int("num_steps", num_steps)


def _run(env, agent: Agent, num_steps: int, env_params, key):
    """One task: returns ``(History, final agent state)``."""
    k_reset, k_init, k_steps = jax.random.split(key, 3)
    obs, env_state = env.reset(k_reset, env_params)
    agent_state = agent.init(k_init, env_params)
    expected = env.expected_rewards(env_params) if is_bandit(env) else None

    # an agent's episode-level work (``end_episode``) runs after the last step of every episode of an environment
    # with fixed-length episodes; the step count is the same for every task, so under vmap it stays a real branch
    end_episode = getattr(agent, "end_episode", None) if hasattr(env, "horizon") else None

    def env_step(carry, xs):
        env_state, obs, agent_state = carry
        key, step = xs
        k_act, k_env = jax.random.split(key)
        action, agent_state = agent.act(k_act, agent_state, obs)
        action = jnp.asarray(action, jnp.int32)
        report = agent.record(agent_state) if hasattr(agent, "record") else None  # what the agent says of this step
        next_obs, env_state, reward, terminated, truncated, info = env.step(k_env, env_state, action, env_params)
        done = jnp.logical_or(terminated, truncated)
        transition = Transition(obs, action, jnp.asarray(reward, jnp.float32), info["final_observation"], done)
        agent_state = agent.update(agent_state, transition)
        if end_episode is not None:
            agent_state = jax.lax.cond((step + 1) % env.horizon == 0, end_episode, lambda s: s, agent_state)
        regret = None if expected is None else jnp.max(expected) - expected[action]
        record = History(*transition, regret=regret, info=report)
        return (env_state, next_obs, agent_state), record

    (_, _, agent_state), history = jax.lax.scan(
        env_step, (env_state, obs, agent_state), (jax.random.split(k_steps, num_steps), jnp.arange(num_steps))
    )
    return history, agent_state


def _split_agent(agent):
    """Static agents (frozen dataclasses) travel whole as a static argument; pytree
    agents (a model agent and its parameters) as leaves plus a static structure."""
    leaves, treedef = jax.tree.flatten(agent)
    if len(leaves) == 1 and leaves[0] is agent:
        return (), _Static(agent)
    return leaves, treedef


class _Static:
    def __init__(self, agent):
        self.agent = agent

    def __hash__(self):
        return hash(self.agent)

    def __eq__(self, other):
        return isinstance(other, _Static) and self.agent == other.agent


def _join_agent(leaves, structure):
    return structure.agent if isinstance(structure, _Static) else jax.tree.unflatten(structure, leaves)


@partial(jax.jit, static_argnames=("env", "structure", "num_steps"))
def _rollout_task(env, structure, num_steps, leaves, env_params, key):
    return _run(env, _join_agent(leaves, structure), num_steps, env_params, key)


@partial(jax.jit, static_argnames=("env", "structure", "num_steps"))
def _rollout_batch(env, structure, num_steps, leaves, env_params, keys):
    agent = _join_agent(leaves, structure)
    return jax.vmap(partial(_run, env, agent, num_steps))(env_params, keys)


def _check_agent(agent, num_steps: int) -> None:
    check = getattr(agent, "check_num_steps", None)
    if check is not None:
        check(num_steps)


def num_tasks_of(env, env_params) -> int:
    """Size of the leading task axis of a batch of ``env_params``; a clear error if there is none."""
    leaves = jax.tree.leaves(env_params)
    single = jax.tree.leaves(env.default_params)
    if not leaves or len(leaves) != len(single):
        raise ValueError(f"env_params do not match environment {env.name!r}: got {type(env_params).__name__}")
    sizes = set()
    for leaf, ref in zip(leaves, single):
        if np.ndim(leaf) != np.ndim(ref) + 1:
            raise ValueError(
                f"env_params must carry a leading task axis (a batch of tasks, e.g. from env.sample_tasks); "
                f"a leaf has shape {np.shape(leaf)} where one task has {np.shape(ref)}. "
                f"For one task use rollout_task, or add the axis with jax.tree.map(lambda x: x[None], params)"
            )
        sizes.add(np.shape(leaf)[0])
    if len(sizes) != 1:
        raise ValueError(f"env_params leaves disagree on the number of tasks: {sorted(sizes)}")
    return sizes.pop()


def _check_actions(env, agent, history: History) -> None:
    """Every action in range, or a ``ValueError`` naming the first step that was not
    (a model whose outputs were not finite plays -1, see ``icrl.agents.model``)."""
    num_actions = int(getattr(agent, "num_actions", env.action_space(env.default_params).n))
    bad = (history.action < 0) | (history.action >= num_actions)
    if bool(jnp.any(bad)):
        index = np.argwhere(np.asarray(bad))[0]
        raise ValueError(
            f"agent {type(agent).__name__} played action {int(np.asarray(history.action)[tuple(index)])} at step "
            f"{int(index[-1])} (task index {tuple(int(i) for i in index[:-1])}); actions must lie in [0, {num_actions}). "
            f"A model agent plays -1 when its outputs are not finite"
        )


def rollout(
    env,
    agent: Agent,
    env_params: Any,
    key: jax.Array,
    num_steps: int | None = None,
    *,
    num_episodes: int | None = None,
    return_agent_state: bool = False,
    check_actions: bool = True,
):
    """Run ``agent`` on every task of the batch ``env_params`` for ``num_steps`` steps
    (or ``num_episodes`` whole episodes of ``env.horizon`` steps).

    The environment resets itself at episode ends; the agent is *not* reset, so
    a learning agent keeps learning across episodes (a learning history). Task
    ``i`` runs with key ``jax.random.split(key, num_tasks)[i]``, which makes
    ``rollout`` equal to a loop of :func:`rollout_task` over tasks.

    Works with any gymnax environment with a discrete action space. Returns a
    :class:`History` with a leading ``(num_tasks, num_steps)``, and the final
    agent states when ``return_agent_state``. ``check_actions=False`` skips the host-side
    check that every action was valid, so that ``rollout`` can run inside a compiled
    function (a stream of training data; its collectors are classic agents).
    """
    num_steps = _check_steps(env, num_steps, num_episodes)
    _check_agent(agent, num_steps)
    keys = jax.random.split(key, num_tasks_of(env, env_params))
    leaves, structure = _split_agent(agent)
    history, agent_state = _rollout_batch(env, structure, num_steps, leaves, env_params, keys)
    if check_actions:
        _check_actions(env, agent, history)
    return (history, agent_state) if return_agent_state else history


def rollout_task(env, agent: Agent, env_params: Any, key: jax.Array, num_steps: int | None = None, *, num_episodes: int | None = None, return_agent_state: bool = False):
    """:func:`rollout` for a single task (no leading task axis)."""
    num_steps = _check_steps(env, num_steps, num_episodes)
    _check_agent(agent, num_steps)
    leaves, structure = _split_agent(agent)
    history, agent_state = _rollout_task(env, structure, num_steps, leaves, env_params, key)
    _check_actions(env, agent, history)
    return (history, agent_state) if return_agent_state else history


def cumulative_regret(history: History) -> jax.Array:
    """``(..., num_steps)`` running sum of per-step regret."""
    if history.regret is None:
        raise ValueError("this history has no per-step regret: its environment has no expected_rewards")
    return jnp.cumsum(history.regret, axis=-1)


def simple_regret(history: History) -> jax.Array:
    """``(..., num_steps)`` simple regret: the best arm's expected reward less that of the best arm
    pulled so far (Bayesian optimisation's measure: how good the best query yet is)."""
    if history.regret is None:
        raise ValueError("this history has no per-step regret: its environment has no expected_rewards")
    return jax.lax.cummin(history.regret, axis=history.regret.ndim - 1)


def episode_returns(history: History, episode_length: int) -> jax.Array:
    """Return of each whole episode: ``(..., num_steps // episode_length)``."""
    num_steps = history.reward.shape[-1]
    if num_steps % episode_length:
        raise ValueError(f"{num_steps} steps is not a whole number of episodes of length {episode_length}")
    shape = history.reward.shape[:-1] + (num_steps // episode_length, episode_length)
    return history.reward.reshape(shape).sum(-1)
