"""Streamed DPT data: made inside the training step, equal to the fixed dataset's arrays, training-split only, resumable."""

import os

import chex
import jax
import numpy as np
import pytest

import envs
from icrl.data import split_counts, dpt_arrays, make_dpt_dataset
from icrl.models import TokenSpec, Transformer
from icrl.objectives import DPTObjective
from icrl.streams import DPTStream, Streamed
from icrl.training import TrainConfig, Trainer, train


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
