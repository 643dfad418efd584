"""Streamed DPT data: made inside the training step, equal to the fixed dataset's arrays, training-split only, resumable."""

import os

import chex
import jax
import numpy as np
import pytest

import envs
from icrl import cumulative_regret, make_agent, rollout
from icrl.agents import ModelAgent
from icrl.data import split_counts
from icrl.models import TokenSpec, Transformer
from icrl.streams import Pooled, Streamed
from icrl.training import TrainConfig, Trainer, train
from train.methods.ad.data import make_ad_dataset
from train.methods.ad.objective import ADObjective
from train.methods.ad.stream import HistoryPool
from train.methods.dpt.data import dpt_arrays, make_dpt_dataset
from train.methods.dpt.objective import DPTObjective
from train.methods.dpt.stream import DPTStream


def test_stream_samples_equal_the_fixed_dataset_made_from_the_same_key():
    """Inside jit, a stream of a collector mixture gives the arrays make_dpt_dataset stores."""
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=12)
    stream = DPTStream(env, 12, "dirichlet:0.5,thompson:0.5")
    key = jax.random.PRNGKey(4)
    streamed = jax.jit(lambda k: stream.samples(k, 10))(key)
    fixed = make_dpt_dataset(env, key, 10, 12, collector="dirichlet:0.5,thompson:0.5").samples
    chex.assert_trees_all_close(streamed, fixed, atol=0)


def test_grid_stream_draws_only_training_goals():
    env, _ = envs.make("darkroom", size=5, horizon=10)
    stream = DPTStream(env, 20, "psrl", labels="collector")
    tasks = jax.jit(lambda k: dpt_arrays(env, stream._agents, split_counts([1.0], 64), k, 20, "collector", check=False)[0])
    goals = {tuple(g) for k in range(5) for g in np.asarray(tasks(jax.random.PRNGKey(k)).goal)}
    train_pool = {tuple(g) for g in np.asarray(env.task_pool("train").goal)}
    test_pool = {tuple(g) for g in np.asarray(env.task_pool("test").goal)}
    assert goals <= train_pool and not goals & test_pool and len(goals) > len(train_pool) // 2


def test_streamed_training_is_deterministic_and_resumes_exactly(tmp_path):
    """The batch of step t depends on the seed and t only: a run killed and resumed ends with the
    parameters of an uninterrupted one; consecutive steps see different fresh tasks."""
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=8)
    spec = TokenSpec.for_env(env)
    model = Transformer(spec.token_dim, env.num_actions, max_len=9, num_layers=1, num_heads=2, width=16)
    objective = Streamed(DPTObjective(spec), DPTStream(env, 8, "dirichlet:0.5,thompson:0.5"))  # a scan from constants
    cfg = TrainConfig(train_steps=6, batch_size=8, warmup_steps=1, log_every=2, checkpoint_every=3, num_devices=1)
    trainer = Trainer(model, objective, cfg)
    data = trainer.put_data(None)
    first, second = trainer.batch(0, data), trainer.batch(1, data)
    chex.assert_trees_all_close(first, trainer.batch(0, data))
    assert not np.array_equal(np.asarray(first[2]), np.asarray(second[2])) or not np.array_equal(first[0], second[0])
    full, _ = train(model, objective, None, cfg, run_dir=str(tmp_path / "a"), progress=False)
    train(model, objective, None, cfg, run_dir=str(tmp_path / "b"), progress=False, stop_after=4)
    resumed, _ = train(model, objective, None, cfg, run_dir=str(tmp_path / "b"), progress=False)
    chex.assert_trees_all_close(resumed, full, atol=1e-7)
    assert not any(name.endswith(".npz") for name in os.listdir(tmp_path / "a"))  # no dataset written
    with pytest.raises(ValueError, match="makes its own data"):
        train(model, objective, np.zeros(3), cfg, progress=False)


def _room_pool(**kw):
    env, _ = envs.make("darkroom", size=5, horizon=10)
    pool = HistoryPool(env, 4, **{**dict(size=16, chunk=4, every=2, source="psrl"), **kw})
    spec = TokenSpec.for_env(env)
    model = Transformer(spec.token_dim, env.num_actions, max_len=20, num_layers=1, num_heads=2, width=16)
    return env, pool, Pooled(ADObjective(spec, env.horizon, 2), pool), model


def test_pool_histories_equal_the_fixed_dataset_made_from_the_same_key():
    env, pool, _, _ = _room_pool(noisy_fraction=0.25)
    key = jax.random.PRNGKey(5)
    fixed = make_ad_dataset(env, key, 4, 4, source="psrl", noisy_fraction=0.25).samples
    chex.assert_trees_all_close(jax.jit(pool.histories)(key), fixed._replace(weights=None), atol=0)


def test_pool_refresh_rule_and_exact_resume(tmp_path, num_devices=2):
    """Refreshed on device step by step, the pool equals the pool rebuilt from the seed and the
    step alone: every `every` steps exactly one chunk (the oldest) is new on each device (two
    devices: each holds and refreshes its own shard). A run killed and resumed ends with the
    parameters of an uninterrupted one."""
    env, pool, objective, model = _room_pool()
    cfg = TrainConfig(train_steps=7, batch_size=8, warmup_steps=1, log_every=2, checkpoint_every=3, num_devices=num_devices)
    trainer = Trainer(model, objective, cfg)
    data = trainer.put_data(None)
    shard = 16 // num_devices
    for step in range(1, 8):
        before = np.asarray(data.history.action).reshape(num_devices, shard, -1)
        data = trainer.advance_data(data, step)
        chex.assert_trees_all_close(data, trainer.put_data(None, step), atol=0)
        changed = (np.asarray(data.history.action).reshape(num_devices, shard, -1) != before).any(-1)
        slot = (pool.slots + step // 2 - 1) % pool.slots  # the refresh applied at this step, when one is due
        expected = np.zeros((num_devices, shard), bool)
        if step % 2 == 0:
            expected[:, slot * 4 // num_devices:(slot + 1) * 4 // num_devices] = True
        assert (changed <= expected).all() and changed.sum() >= (expected.sum() * 3) // 4  # a fresh history may repeat one
    full, _ = train(model, objective, None, cfg, run_dir=str(tmp_path / "a"), progress=False)
    train(model, objective, None, cfg, run_dir=str(tmp_path / "b"), progress=False, stop_after=3)
    resumed, _ = train(model, objective, None, cfg, run_dir=str(tmp_path / "b"), progress=False)
    chex.assert_trees_all_close(resumed, full, atol=1e-7)
    assert not any(name.endswith(".npz") for name in os.listdir(tmp_path / "a"))
    with pytest.raises(ValueError, match="makes its own data"):
        trainer.put_data(np.zeros(3))
    with pytest.raises(ValueError, match="does not split into chunks of 5"):
        HistoryPool(env, 4, size=16, chunk=5)


def test_pool_holds_training_goals_only():
    """Every rewarded cell in the pools of a run's first steps (what its batches are windows of)
    is a training-split goal."""
    env, pool, objective, model = _room_pool(size=64, chunk=16, every=1)
    trainer = Trainer(model, objective, TrainConfig(batch_size=32, num_devices=1))
    data, goals = trainer.put_data(None), []
    for step in range(1, 6):
        data = trainer.advance_data(data, step)
        rewarded = np.asarray(data.history.reward) > 0
        goals.append({tuple(cell) for cell in np.asarray(data.history.next_obs)[rewarded]})
    train_goals = {tuple(g) for g in np.asarray(env.task_pool("train").goal)}
    test_goals = {tuple(g) for g in np.asarray(env.task_pool("test").goal)}
    seen = set().union(*goals)
    assert seen <= train_goals and not seen & test_goals


def _paired_gain(env, agent, horizon: int, n: int = 400) -> tuple[float, float, float]:
    """Held-out regret of ``agent`` against random on the same tasks: (mean gain, 95% margin, random's regret)."""
    tasks = env.sample_tasks(jax.random.PRNGKey(123), n, "test")
    regret = lambda a: np.asarray(cumulative_regret(rollout(env, a, tasks, jax.random.PRNGKey(7), horizon))[:, -1])  # noqa: E731
    rand = regret(make_agent("random", env))
    diff = rand - regret(agent)
    return diff.mean(), 1.96 * diff.std(ddof=1) / np.sqrt(n), rand.mean()


# Both slow-marked (40-50 s each on two busy cores): in the default run, a stream's samples and a pool's histories
# are shown equal to the fixed datasets made from the same key (the tests above), learning from fixed data by the
# end-to-end tests, and a streamed run end to end by test_experiments.py
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dpt", "ad"])
def test_streamed_tiny_model_beats_random_on_held_out_tasks_and_two_steps_do_not(kind, tmp_path):
    """DPT on fresh contexts every step, AD on a refreshed pool of Thompson-sampling histories:
    trained, the model beats random on held-out bandit tasks by a quarter of random's regret
    (paired, 95%); stopped after 2 of its steps, it does not."""
    env, _ = envs.make("bernoulli-bandit", num_arms=5, horizon=30)
    spec = TokenSpec.for_env(env)
    if kind == "dpt":
        objective, max_len = Streamed(DPTObjective(spec), DPTStream(env, 30)), 31
    else:
        objective, max_len = Pooled(ADObjective(spec, 30, 1), HistoryPool(env, 1, 1024, 128, 1, "thompson")), 30
    model = Transformer(spec.token_dim, spec.num_actions, max_len=max_len, num_layers=2, num_heads=2, width=32)
    steps = 225 if kind == "dpt" else 300  # DPT's paired gain 3.6 against the required 2.5 (4.2 at 300 steps, 2.2 at 150)
    cfg = TrainConfig(train_steps=steps, batch_size=128, learning_rate=3e-3, warmup_steps=10, log_every=100, num_devices=1)
    for stop_after, learns in ((2, False), (None, True)):  # the same run: killed after 2 steps, then resumed to the end
        params, _ = train(model, objective, None, cfg, run_dir=str(tmp_path), progress=False, stop_after=stop_after)
        gain, margin, rand = _paired_gain(env, ModelAgent(params, model, spec), 30)
        assert (gain - margin > 0.25 * rand) == learns, (stop_after, gain, margin, rand)
