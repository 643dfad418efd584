"""Experiment configs: every field that shapes the data or the model reaches the checkpoint's record."""

import dataclasses
import json
import os

import numpy as np
import pytest

from icrl.checkpoints import CheckpointError
from train import run_experiment
from train.configs import GROUPS, TRAINED_GROUPS, ExperimentConfig, config_for, replace
from train.experiments import build, saved_results


def _other_value(name, value):
    """A different valid value for field ``name``."""
    special = {"objective": "ad", "env": "darkroom", "backbone": "s5", "collector": "dirichlet:0.5,ucb:0.5",
               "position_encoding": "learned", "scale": "paper", "eval_split": "train", "out_dir": "elsewhere",
               "labels": "collector", "source": "psrl", "window_starts": "step", "deploy_context": ("step", "episode"),
               "ffn": "t2mir", "data_source": "stream", "pool_size": 8192, "pool_chunk": 128, "deploy_window": 2,
               "embedding": "mlp", "acting_episode": "any", "plan_reward": "expected", "level": "medium",
               "env_args": ("obs_size=5",)}
    if name in special:
        return special[name] if special[name] != value else "q-learning" if name == "source" else None
    if name == "beam_widths":
        return (0, 2) if value != (0, 2) else (3,)
    if name == "retrieval":
        return "random" if value == "similar" else "similar"
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 0.5 if value else 0.1
    if isinstance(value, tuple):
        return value + (value[-1],) if value else (0.1, 0.2)
    raise AssertionError(f"no other value for {name}={value!r}")


def test_every_field_has_a_group_and_every_trained_field_is_recorded():
    """Changing any field of the env, data, objective or model groups, or any setting of a
    method, changes the record a checkpoint is checked against (env and data ones also the
    dataset fingerprint); eval and output fields change neither. Derived from the dataclasses
    and the registry, so a new field or method cannot be missed."""
    from train import methods

    base = ExperimentConfig(context_episodes=2)  # two episodes per context: learning-history filtering can score them
    for field in dataclasses.fields(ExperimentConfig):
        group = field.metadata.get("group")
        assert group in GROUPS, f"field {field.name} has no group"
        if group in ("train", "method"):
            continue  # the training settings are recorded whole by icrl.training.train; the methods' below
        start = replace(base, backbone="s5") if field.name == "deploy_window" else base  # a recurrent backbone's setting
        start = replace(base, env="darkroom") if field.name == "split_seed" else start  # a grid world's setting
        start = replace(base, env="bayesopt") if field.name == "basis" else start  # Bayesian optimisation's setting
        start = replace(base, env="popgym-repeat-first") if field.name == "level" else start  # POPGym's setting
        start = replace(base, env="projected") if field.name == "env_args" else start  # an environment's own setting
        changed = replace(start, **{field.name: _other_value(field.name, getattr(start, field.name))})
        if group in TRAINED_GROUPS:
            assert changed.trained_fields() != start.trained_fields(), field.name
        else:
            assert changed.trained_fields() == start.trained_fields(), field.name
        assert (changed.data_fingerprint() != start.data_fingerprint()) == (group in ("env", "data")), field.name
    for method in methods.METHODS.values():
        own = replace(base, objective=method.name)
        for field in method.settings():
            group = field.metadata.get("group")
            assert group in TRAINED_GROUPS or group == "eval", f"{method.name}.{field.name} has no group it may have"
            start = own
            if field.name == "window_steps":  # a window of steps: one episode, and (AD) windows that begin at any step
                step_starts = {"window_starts": "step"} if hasattr(own.method, "window_starts") else {}
                start = replace(own, context_episodes=1, **step_starts)
            changed = replace(start, **{field.name: _other_value(field.name, getattr(start.method, field.name))})
            # a deployment setting (DICP's beams) changes no trained parameter: a run evaluates again with another
            assert (changed.trained_fields() != start.trained_fields()) == (group != "eval"), (method.name, field.name)
            assert (changed.data_fingerprint() != start.data_fingerprint()) == (field.metadata["group"] in ("env", "data")), field.name
    assert replace(base, seed=3).data_fingerprint() != base.data_fingerprint()  # the seed makes other data
    with pytest.raises(ValueError, match="unknown config field"):
        replace(base, num_stepz=3)
    with pytest.raises(ValueError, match="'source' is a setting of method 'ad'; this experiment's method is 'dpt'"):
        replace(base, source="psrl")


def test_old_flat_configs_and_records_still_read():
    """A results file's config written while every method's settings were one flat list reads as
    today's config (the other methods' settings dropped), and a preset's checkpoint record is
    the flat one those runs wrote (a DPT run's carries AD's settings at their defaults)."""
    from train.configs import config_from_dict

    cfg = config_for("darkroom-ad")
    flat = {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(cfg))).items() if k != "method"}
    flat.update(dataclasses.asdict(cfg.method), collector="dirichlet", labels="optimal", ppo_epochs=4, gamma=0.99)
    assert config_from_dict(flat) == cfg
    record = config_for("bandit-dpt").trained_fields()
    assert record["collector"] == "dirichlet:0.5,thompson:0.5" and record["source"] == "q-learning"
    assert record["history_episodes"] == 100 and "ppo_epochs" not in record  # an added field at its reproducing value
    with pytest.raises(ValueError, match=r"fields this version does not know: \['frobnicate'\]"):
        config_from_dict({**flat, "frobnicate": 1})


def test_a_checkpoint_recorded_before_the_embedding_setting_still_loads():
    """A checkpoint's record written before experiments recorded ``embedding`` reads as the linear
    embedding that made it (so the run evaluates and resumes), and a record of another embedding
    is still refused, naming it."""
    from icrl.checkpoints import CheckpointError, check_record, upgrade_record

    today = {"experiment": config_for("darkroom9-ad").trained_fields()}
    assert today["experiment"]["embedding"] == "linear"
    old = {"experiment": {k: v for k, v in today["experiment"].items() if k != "embedding"}}
    check_record(upgrade_record(old), today, "old")
    with pytest.raises(CheckpointError, match="experiment.embedding='mlp'"):
        check_record(upgrade_record({"experiment": {**old["experiment"], "embedding": "mlp"}}), today, "other")


def test_results_saved_before_a_training_field_existed_are_reused(tmp_path, monkeypatch):
    """A results file whose config predates TrainConfig.microbatches still matches today's config,
    whatever its microbatches (the same model: they only pace the step) and however its output
    directory is named, and no config that trains another model."""
    from icrl.results import SCHEMA

    cfg = config_for("bandit-dpt", out_dir=str(tmp_path))
    saved = json.loads(json.dumps(dataclasses.asdict(cfg)))
    del saved["train"]["microbatches"]  # as written before the field existed
    os.makedirs(tmp_path / "run")
    with open(tmp_path / "run" / "results.json", "w") as f:
        json.dump({"schema": SCHEMA, "methods": {}, "config": saved}, f)
    assert saved_results(cfg, "run") is not None and saved_results(replace(cfg, microbatches=2), "run") is not None
    assert saved_results(replace(cfg, learning_rate=0.5), "run") is None
    monkeypatch.chdir(tmp_path)  # the same directory named relatively: its runs are found as theirs
    assert saved_results(replace(cfg, out_dir="."), "run") is not None


def _tiny_ad(tmp_path, **kw):
    base = dict(size=4, horizon=5, num_train_tasks=16, history_episodes=6, context_episodes=2, episode_stride=1,
                source="q-learning", window_starts="episode",
                train_steps=2, batch_size=4, microbatches=1, width=16, num_layers=1, eval_tasks=4, eval_episodes=2,
                baselines=("random",), out_dir=str(tmp_path))
    return config_for("darkroom-ad", **{**base, **kw})


def test_a_changed_config_never_reuses_a_stale_model(tmp_path):
    """darkroom-ad with episode_stride 1, then 2 in the same run directory: refused before any
    data or training, naming the field; an evaluation-only change reuses the model."""
    run_experiment(_tiny_ad(tmp_path), "ad", progress=False)
    dataset = tmp_path / "ad" / "dataset.npz"
    stamp = os.path.getmtime(dataset)
    with pytest.raises(CheckpointError, match=r"experiment\.episode_stride=1, but this run has experiment\.episode_stride=2"):
        run_experiment(_tiny_ad(tmp_path, episode_stride=2), "ad", progress=False)
    with pytest.raises(CheckpointError, match=r"learning_rate"):
        run_experiment(_tiny_ad(tmp_path, learning_rate=0.5), "ad", progress=False)
    assert os.path.getmtime(dataset) == stamp  # refused before the data was touched
    again = run_experiment(_tiny_ad(tmp_path, eval_tasks=8), "ad", progress=False)
    assert again["num_tasks"] >= 8


def test_learned_positions_refuse_evaluation_past_training_length():
    """Untrained position embeddings are never used: a learned-position transformer refuses an
    evaluation longer than its training sequences; relative positions slide a window instead."""
    cfg = config_for("darkroom-ad", eval_episodes=12)
    assert build(cfg).model.context_limit is None  # relative positions: any length
    with pytest.raises(ValueError, match=r"exceeds the transformer's learned positions \(max_len=196"):
        build(replace(cfg, position_encoding="learned"))
    build(replace(cfg, position_encoding="learned", eval_episodes=4))  # within the training length: fine
    build(replace(cfg, position_encoding="learned", deploy_window=4))  # windows of 4 episodes: 196 steps, each from position 0
    with pytest.raises(ValueError, match=r"deploy_window=6 episodes \(294 steps\) exceeds the transformer's learned positions"):
        build(replace(cfg, position_encoding="learned", deploy_window=6))


def test_split_seed_makes_another_fold_of_a_grid_worlds_goals_and_is_refused_elsewhere():
    """Another split_seed: another disjoint train/test split of the same goals, in the env the run builds and in
    what its records carry; seed 0 builds the env as before the setting (nothing recorded)."""
    import envs

    cfg = config_for("darkroom9-dicp")
    assert "split_seed" not in cfg.env_kwargs()
    fold = config_for("darkroom9-dicp", split_seed=1)
    assert fold.env_kwargs()["split_seed"] == 1 and fold.data_fingerprint() != cfg.data_fingerprint()

    def goals(c, split):
        env, _ = envs.make(c.env, **c.env_kwargs())
        return {tuple(int(v) for v in g) for g in np.asarray(env.task_pool(split).goal)}

    base_train, base_test = goals(cfg, "train"), goals(cfg, "test")
    fold_test, fold_train = goals(fold, "test"), goals(fold, "train")
    assert len(base_test) == 16 and len(fold_test) == 13 and fold_train | fold_test == base_train
    assert not fold_test & fold_train and not (fold_test | fold_train) & base_test  # no held-out goal in a fold
    with pytest.raises(ValueError, match="split_seed splits a grid world's goals.*'bernoulli-bandit'"):
        config_for("bandit-dpt", split_seed=1)
    with pytest.raises(ValueError, match="split_seed must be"):
        config_for("darkroom9-dicp", split_seed=-1)
