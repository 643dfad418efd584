"""Multi-process data parallel training on JAX's distributed runtime (two CPU processes)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from icrl.training import train
from train import config_for
from train.experiments import _dataset, build

ARGS = dict(train_steps=6, log_every=1, num_train_tasks=200, eval_tasks=20, horizon=10, width=16, num_layers=1,
            batch_size=8, baselines=("random",), data_source="fixed")  # one baseline: the test is about training


def _losses(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line)["loss"] for line in f]


@pytest.mark.slow
def test_two_processes_train_like_one_process_with_two_devices(tmp_path):
    """python -m train.launch -n 2 (one CPU device per process) gives the loss curve of one
    process with two devices, to float tolerance; process 0 alone writes the results."""
    one = config_for("bandit-dpt", **ARGS, num_devices=2, out_dir=str(tmp_path / "one"))
    setup = build(one)  # the reference trains only: the same data and steps as run_experiment, no evaluation
    data = _dataset(one, setup.env, str(tmp_path / "one" / "run"))
    train(setup.model, setup.objective, data.samples, one.train, run_dir=str(tmp_path / "one" / "run"), progress=False)
    flags = [f"--{k.replace('_', '-')}={v if not isinstance(v, tuple) else ','.join(v)}" for k, v in ARGS.items()]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run([sys.executable, "-m", "train.launch", "-n", "2", "bandit-dpt", *flags, "--out-dir", str(tmp_path / "two")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = _losses(tmp_path / "one" / "run"), _losses(tmp_path / "two" / "bandit-dpt")
    assert len(one) == len(two) == 6
    np.testing.assert_allclose(two, one, rtol=1e-5)
    assert (tmp_path / "two" / "bandit-dpt" / "results.json").exists()


def _figures(results: dict) -> dict:
    """Every method's curve of a results dict (regret per step or return per episode)."""
    return {name: m.get("cumulative_regret", m.get("episode_return")) for name, m in results["methods"].items()}


@pytest.mark.parametrize("name,kw", [
    ("bandit-dpt", dict(train_steps=6, num_train_tasks=200, eval_tasks=40, horizon=10, width=16, num_layers=1, batch_size=8,
                        baselines=("random",))),
    ("darkroom9-ad", dict(train_steps=6, num_train_tasks=16, history_episodes=4, context_episodes=2, eval_tasks=16,
                          eval_episodes=2, width=16, num_layers=1, batch_size=8, baselines=("random",))),
])
def test_one_and_two_devices_give_the_same_figures(tmp_path, name, kw):
    """The same preset and seed on 1 and on 2 host devices: the same loss curve and the same held-out
    figures, to float rounding (the batch is drawn from keys that do not depend on the device count)."""
    from train import run_experiment

    figures = {}
    for devices in (1, 2):
        cfg = config_for(name, **kw, log_every=1, microbatches=2, num_devices=devices, out_dir=str(tmp_path / str(devices)))
        results = run_experiment(cfg, name, progress=False)
        assert results["provenance"]["devices"] == f"{devices} cpu"
        figures[devices] = _losses(tmp_path / str(devices) / name), _figures(results)
    np.testing.assert_allclose(figures[2][0], figures[1][0], rtol=1e-5)
    for method, curve in figures[1][1].items():
        np.testing.assert_allclose(figures[2][1][method], curve, rtol=1e-5, atol=1e-6, err_msg=method)
