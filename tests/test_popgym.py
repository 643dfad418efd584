"""POPGym's memory tasks: each family plays as POPGym's own environment does on the same shuffles (observations,
rewards, episode length), and the environments meet icrl's contract (fixed horizon, batched tasks, rollouts)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.popgym import BanditState, CardState
from icrl.agents import make_agent
from icrl.rollout import rollout

popgym = pytest.importorskip("popgym")

REFERENCE = {  # our family -> POPGym's class name prefix and module
    "repeat-first": ("popgym.envs.repeat_first", "RepeatFirst"),
    "repeat-previous": ("popgym.envs.repeat_previous", "RepeatPrevious"),
    "autoencode": ("popgym.envs.autoencode", "Autoencode"),
    "count-recall": ("popgym.envs.count_recall", "CountRecall"),
    "higher-lower": ("popgym.envs.higher_lower", "HigherLower"),
    "bandit": ("popgym.envs.multiarmed_bandit", "MultiarmedBandit"),
}


def _reference(family: str, level: str):
    import importlib

    module, prefix = REFERENCE[family]
    return getattr(importlib.import_module(module), prefix + level.capitalize())()


def _one_hot(family: str, obs, env) -> np.ndarray:
    """POPGym's discrete observation as ours: one-hot, components side by side."""
    if family == "autoencode":
        return np.concatenate([np.eye(2)[obs[0]], np.eye(4)[obs[1]]])
    if family == "count-recall":
        return np.concatenate([np.eye(env.kinds)[obs[0]], np.eye(env.kinds)[obs[1]]])
    return np.eye(env.obs_dim)[int(obs)]


def _start(family: str, ref, env):
    """Our state holding the reference's draw: cards in the order it deals them (from the end of its index)."""
    zero = jnp.zeros((), jnp.int32)
    if family == "bandit":
        probs = (np.arange(env.num_arms) % 3 == 0).astype(np.float32)  # arms that always or never pay: no draw left
        ref.bandits = probs.copy()
        return BanditState(zero, jnp.asarray(probs))
    if family == "count-recall":
        return CardState(zero, jnp.asarray(ref.value_deck.idx[::-1].copy(), jnp.int32),
                         jnp.asarray(ref.query_deck.idx[::-1].copy(), jnp.int32))
    order = jnp.asarray(ref.deck.idx[::-1].copy(), jnp.int32)
    return CardState(zero, order, order)


@pytest.mark.parametrize("level", ["easy", "medium"])
@pytest.mark.parametrize("family", list(REFERENCE))
def test_each_family_plays_as_popgym_on_the_same_shuffle(family, level):
    env, params = envs.make(f"popgym-{family}", level=level)
    step = jax.jit(lambda s, a: env.step_env(jax.random.PRNGKey(0), s, a, params))
    obs_of = jax.jit(env.get_obs) if family != "bandit" else None
    rng = np.random.default_rng(0)
    for seed in (1, 2):
        ref = _reference(family, level)
        ref_obs, _ = ref.reset(seed=seed)
        state = _start(family, ref, env)
        if obs_of is not None:
            np.testing.assert_array_equal(obs_of(state), _one_hot(family, ref_obs, env))
        total = 0.0
        for t in range(env.horizon):
            if family == "count-recall" and rng.random() < 0.5:  # the right count half the time: both rewards occur
                action = int(ref.counts[ref.query])
            else:
                action = int(rng.integers(env.num_actions))
            ref_obs, ref_reward, terminated, truncated, _ = ref.step(action)
            obs, state, reward, done, _ = step(state, action)
            np.testing.assert_array_equal(obs, _one_hot(family, ref_obs, env), err_msg=f"step {t + 1}")
            np.testing.assert_allclose(reward, ref_reward, rtol=1e-6, atol=1e-9, err_msg=f"step {t + 1}")
            assert bool(done) == terminated, f"step {t + 1}: terminated {bool(done)}, POPGym {terminated}"
            assert bool(env.is_truncated(state, params)) == (t == env.horizon - 1)  # every episode ends at the horizon
            assert (terminated or truncated) == (t == env.horizon - 1)
            total += ref_reward
        assert -1.0 - 1e-9 <= total <= 1.0 + 1e-9


def test_a_perfect_memory_earns_the_bound_and_a_random_policy_does_not():
    """Named by hand on a small case: repeat-previous answered from the cards seen earns exactly 1; count recall's
    counts too; a uniformly random policy's mean return is near its expectation (2/4 - 1 = -0.5 for four suits)."""
    env, params = envs.make("popgym-repeat-previous")
    _, state = env.reset_env(jax.random.PRNGKey(3), params)
    total, seen = 0.0, [int(jnp.argmax(env.get_obs(state)))]
    for j in range(1, env.horizon + 1):
        action = seen[j - env.k] if j >= env.k else 0
        obs, state, reward, terminated, _ = env.step_env(jax.random.PRNGKey(0), state, action, params)
        seen.append(int(jnp.argmax(obs)))
        total += float(reward)
    assert abs(total - 1.0) < 1e-5 and bool(terminated)
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 400)
    history = rollout(env, make_agent("random", env), tasks, jax.random.PRNGKey(1), num_episodes=1)
    returns = history.reward.sum(-1)
    assert abs(float(returns.mean()) + 0.5) < 0.02, float(returns.mean())  # sd of one return ~0.13; of the mean ~0.006


def test_episodes_keep_their_length_and_each_deals_a_fresh_shuffle():
    env, params = envs.make("popgym-higher-lower")
    tasks = env.sample_tasks(jax.random.PRNGKey(0), 3, split="test")
    assert tasks.max_steps_in_episode.shape == (3,)
    history = rollout(env, make_agent("random", env), tasks, jax.random.PRNGKey(2), num_episodes=2)
    assert history.action.shape == (3, 2 * env.horizon)
    done = np.asarray(history.done)
    assert done[:, env.horizon - 1].all() and done[:, -1].all() and done.sum() == 6
    first, second = history.obs[:, : env.horizon], history.obs[:, env.horizon :]
    assert not np.array_equal(np.asarray(first), np.asarray(second))  # the auto-reset dealt another shuffle
    with pytest.raises(ValueError, match="level must be one of"):
        envs.make("popgym-autoencode", level="extreme")


def test_a_level_reaches_the_environment_and_an_environment_without_levels_refuses_one():
    from train import config_for

    cfg = config_for("bandit-rl2-s5", env="popgym-count-recall", level="hard", context_episodes=1)
    assert cfg.env_kwargs() == {"level": "hard"}
    env, _ = envs.make(cfg.env, **cfg.env_kwargs())
    assert env.kinds == 13 and env.num_actions == 17
    assert config_for("bandit-rl2-s5", env="popgym-bandit").env_kwargs() == {}  # unset: the environment's own default
    with pytest.raises(ValueError, match="level='hard' sizes POPGym's tasks; environment 'darkroom' has no levels"):
        config_for("darkroom9-ad", level="hard")


def test_the_presets_give_every_family_the_same_environment_steps():
    """The meta-RL presets' horizons (written down so that listing them imports no JAX) are the environments' own, and
    each family's training covers the same environment steps, so S5 and the GRU compare at equal steps."""
    from train import config_for
    from train.methods.rl2.presets import POPGYM_HORIZONS

    for family, horizon in POPGYM_HORIZONS.items():
        assert envs.make(f"popgym-{family}", level="easy")[0].horizon == horizon
        for backbone in ("s5", "gru"):
            cfg = config_for(f"popgym-{family}-{backbone}")
            steps = cfg.train.train_steps * cfg.train.batch_size * horizon
            assert abs(steps - 64 * 51 * 1000) < 64 * horizon, (family, steps)
