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
