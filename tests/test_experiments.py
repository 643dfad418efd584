import json
import os

import pytest

from train import EXPERIMENTS, config_for, run_experiment
from train.experiments import build
from train.__main__ import main


def _tiny(tmp_path, name="bandit-dpt", **kw):
    base = dict(train_steps=10, num_train_tasks=200, eval_tasks=40, horizon=20, width=16, num_layers=1, batch_size=16,
                microbatches=1, out_dir=str(tmp_path))  # one piece: a tiny batch in parts only adds steps
    return config_for(name, **{**base, **kw})


def test_experiment_writes_results_and_plot_and_resumes(tmp_path):
    cfg = _tiny(tmp_path)
    res = run_experiment(cfg, "tiny", progress=False)
    run_dir = tmp_path / "tiny"
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["schema"] == "icrl-results/1" and saved["num_tasks"] == 40
    assert set(saved["methods"]) == {"DPT", "random", "ucb", "thompson"}
    assert len(saved["methods"]["DPT"]["cumulative_regret"]) == 20
    assert set(saved["offline"]) == {"model", "empirical-mean", "lcb"}
    assert os.path.getsize(run_dir / "regret.png") > 1000
    assert (run_dir / "metrics.jsonl").read_text().count("\n") >= 1
    from icrl.results import record_hash
    from icrl.runs import read_record

    assert saved["provenance"]["record_sha256"] == record_hash(read_record(str(run_dir)))  # traceable to its checkpoint
    assert saved["provenance"]["commit"] and len(saved["provenance"]["commit"]) == 40  # this checkout's commit
    assert saved["config"]["train"]["train_steps"] == 10
    again = run_experiment(cfg, "tiny", progress=False)  # resumes the finished checkpoint: no retraining
    assert again["methods"]["DPT"] == res["methods"]["DPT"]
    # python -m train eval RUN_DIR: with the run's own settings, the run's figures (same keys); with others, its own file
    main(["eval", str(run_dir)])
    assert json.loads((run_dir / "results_eval.json").read_text())["methods"] == saved["methods"]
    # another split and task count: tests/test_methods.py's run


def test_streamed_run_and_out_of_distribution_evaluation(tmp_path):
    """A run on streamed data (no dataset written; the mixture collector runs inside the step),
    evaluated out of distribution."""
    cfg = _tiny(tmp_path, eval_mean_range=(0.4, 0.6), data_source="stream")
    res = run_experiment(cfg, "ood", progress=False)
    assert res["out_of_distribution"]["mean_low"] == 0.4 and (tmp_path / "ood" / "results_ood.json").exists()
    assert not (tmp_path / "ood" / "dataset.npz").exists() and res["config"]["data_source"] == "stream"
    pooled = build(config_for("darkroom-ad", data_source="stream", pool_size=512, pool_chunk=32, pool_every=4)).objective
    assert (pooled.pool.size, pooled.pool.chunk, pooled.pool.every, pooled.pool.source) == (512, 32, 4, "psrl")
    with pytest.raises(ValueError, match="pool_size=500 must be a multiple of pool_chunk=64"):
        config_for("darkroom-ad", data_source="stream", pool_size=500)
    with pytest.raises(ValueError, match="meta-RL makes its own trials"):
        _tiny(tmp_path, name="bandit-rl2-s5", data_source="stream")
    with pytest.raises(ValueError, match=r"exceeds the transformer's learned positions \(max_len=21"):
        run_experiment(_tiny(tmp_path, eval_horizon=40, position_encoding="learned"), "ood2", progress=False)
    with pytest.raises(ValueError, match="eval_mean_range"):
        _tiny(tmp_path, name="darkroom-dpt", eval_mean_range=(0.1, 0.2)).eval_env_kwargs()


def test_meta_rl_run_evaluates_the_policy_beside_the_baselines_and_resumes(tmp_path):
    """A named meta-RL experiment ends like the others: checkpoint, held-out results of the
    policy (an agent) beside the baselines, a plot; no dataset, and a rerun trains nothing."""
    cfg = config_for("darkroom-rl2-gru", size=4, horizon=6, train_steps=2, batch_size=8, ppo_minibatches=2, width=16,
                     num_layers=1, eval_tasks=8, eval_episodes=3, baselines=("random",), out_dir=str(tmp_path))
    res = run_experiment(cfg, "rl2", progress=False)
    assert set(res["methods"]) == {"RL2-gru", "random"} and len(res["methods"]["RL2-gru"]["episode_return"]) == 3
    assert res["final_loss"] is None and not (tmp_path / "rl2" / "dataset.npz").exists()
    assert os.path.getsize(tmp_path / "rl2" / "returns.png") > 1000
    metrics = (tmp_path / "rl2" / "metrics.jsonl").read_text()
    assert '"trial_return"' in metrics and '"entropy"' in metrics
    logged = [json.loads(line)["trial_return"] for line in metrics.splitlines() if "trial_return" in line]
    assert res["max_mean_trial_return"] == max(logged)  # POPGym's MMER where a trial is one episode
    again = run_experiment(cfg, "rl2", progress=False)
    assert again["methods"]["RL2-gru"] == res["methods"]["RL2-gru"]
    with pytest.raises(ValueError, match="deploy_context must be"):
        config_for("bandit-rl2-s5", deploy_context=("step", "episode"))


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit, match="unknown experiment 'bandit-dqn'.*bandit-dpt"):
        main(["bandit-dqn"])
    with pytest.raises(ValueError, match="unknown experiment"):
        config_for("nope")
    with pytest.raises(SystemExit):
        main(["bandit-dpt", "--num-stepz", "3"])


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_every_named_experiment_builds(scale):
    """Each preset's pieces fit together (evaluation within the context, AD windows within
    the histories) before anyone spends minutes on it."""
    for name in EXPERIMENTS:
        cfg = config_for(name, scale=scale)
        setup = build(cfg)
        # a meta-RL policy also outputs its value; DICP every action's reward and next cell
        extra = 1 if cfg.objective == "rl2" else setup.env.num_actions * (2 + setup.env.num_states) if cfg.objective == "dicp" else 0
        assert setup.env.num_actions + extra == setup.model.num_outputs
        if cfg.backbone == "transformer" and setup.model.context_limit is not None:
            assert cfg.eval_episodes * setup.eval_env.horizon <= setup.model.context_limit
    with pytest.raises(ValueError, match="spans 15 episodes; the histories have only 10"):
        build(config_for("darkroom-ad-qlearning", history_episodes=10, context_episodes=8, episode_stride=2))
    with pytest.raises(ValueError, match="unknown agent 'tompson'"):
        build(config_for("bandit-dpt", collector="dirichlet:0.5,tompson:0.5"))
    with pytest.raises(ValueError, match="finite task pool; environment 'bernoulli-bandit'"):
        build(config_for("bandit-dpt", baselines=("random", "psrl")))
    with pytest.raises(ValueError, match="embedding='mlp' is a transformer option; the s5 backbone has none"):
        build(config_for("bandit-dpt-s5", embedding="mlp"))
    with pytest.raises(ValueError, match="basis=4 is a transformer option; the gru backbone has none"):
        build(config_for("bayesopt-icee", basis=4, backbone="gru"))


def test_t2mir_records_a_contrastive_loss_only_where_windows_are_paired():
    """AD pairs two windows of a history, so its T2MIR model keeps the contrastive weight; a DPT context
    is one task's and never paired, so its model records a weight of 0 rather than one that trains
    nothing; meta-RL refuses the layer."""
    ad = build(config_for("darkroom-ad", ffn="t2mir"))
    assert ad.objective.paired and ad.model.moe_contrastive_weight == 0.01
    for name in ("darkroom-dpt", "bandit-dpt-s5"):
        dpt = build(config_for(name, ffn="t2mir", backbone="transformer"))
        assert not getattr(dpt.objective, "paired", False) and dpt.model.moe_contrastive_weight == 0.0
    with pytest.raises(ValueError, match="the supervised methods, not with RL2"):
        build(config_for("darkroom-rl2-s5", ffn="t2mir", backbone="transformer"))


def test_runs_with_the_same_data_settings_share_one_dataset(tmp_path, capsys):
    """AD with another backbone reads the dataset an AD run in the same directory made from the same data settings and
    seed (one file, linked); other data settings or another seed make their own."""
    import numpy as np

    from train.experiments import _dataset

    base = dict(size=4, horizon=6, num_train_tasks=8, history_episodes=3, context_episodes=2, out_dir=str(tmp_path))
    first = config_for("darkroom-ad", **base)
    env = build(first).env
    made = _dataset(first, env, str(tmp_path / "ad"))
    shared = _dataset(config_for("darkroom-ad", **base, backbone="s5"), env, str(tmp_path / "ad-s5"))
    assert os.path.samefile(tmp_path / "ad" / "dataset.npz", tmp_path / "ad-s5" / "dataset.npz")
    assert "ad/dataset.npz's (same data settings and seed)" in capsys.readouterr().out
    np.testing.assert_array_equal(shared.history.action, made.history.action)
    other = _dataset(config_for("darkroom-ad", **{**base, "num_train_tasks": 10}), env, str(tmp_path / "more"))
    reseeded = _dataset(config_for("darkroom-ad", **base, seed=1), env, str(tmp_path / "seed1"))
    assert other.num_tasks == 10 and not os.path.samefile(tmp_path / "ad" / "dataset.npz", tmp_path / "seed1" / "dataset.npz")
    assert not np.array_equal(reseeded.history.action, made.history.action)
