"""A package from outside icrl, installed as a plug-in, reaches every command: examples/icrl-plugin-example
(a new environment and a new method, a preset for each) through its ``icrl.plugins`` entry point."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import EXAMPLE_PLUGIN as EXAMPLE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_example_plugin_runs_through_list_train_and_eval(installed, tmp_path, capsys):
    from train.__main__ import main

    main(["list"])
    listing = capsys.readouterr().out
    assert "corridor-dpt" in listing and "corridor-smooth-dpt" in listing
    out = str(tmp_path / "runs")
    main(["corridor-smooth-dpt", "--train-steps", "40", "--num-train-tasks", "200", "--eval-tasks", "12", "--baselines", "random",
          "oracle", "--out-dir", out])
    results = json.loads(open(os.path.join(out, "corridor-smooth-dpt", "results.json")).read())
    assert set(results["methods"]) == {"SmoothDPT", "random", "oracle"} and results["config"]["method"]["smoothing"] == 0.1
    assert results["env"]["name"] == "corridor" and results["num_goals"] == 21  # the corridor's held-out (start, goal) pairs
    np.testing.assert_allclose(results["methods"]["oracle"]["episode_fraction"], 1.0)
    main(["eval", os.path.join(out, "corridor-smooth-dpt"), "--eval-split", "train", "--eval-pool-sample", "7"])
    again = json.loads(open(os.path.join(out, "corridor-smooth-dpt", "results_eval_train.json")).read())
    assert again["split"] == "train" and again["num_goals"] == 7 and again["pool_size"] == 60
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["corridor-smooth-dpt", "--help"])
    assert "--smoothing" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="error: smoothing must be in \\[0, 1\\), got 1.5"):
        main(["corridor-smooth-dpt", "--smoothing", "1.5", "--out-dir", out])


def test_a_fresh_process_finds_the_installed_plugin(installed):
    """The entry point alone makes the presets known to a new process (``python -m train list``)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([installed, EXAMPLE, ROOT])}
    done = subprocess.run([sys.executable, "-m", "train", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "corridor-smooth-dpt" in done.stdout and "DPT with label smoothing" in done.stdout


def test_the_smoothed_loss_is_what_trains_fixed_or_streamed(installed):
    """The trainer minimises the method's own criterion, also behind a stream (which forwards it): by hand,
    cross-entropy against (1 - s) one-hot + s / A."""
    from icrl.training import Trainer, TrainConfig
    from train import config_for
    from train.experiments import build

    for source in ("fixed", "stream"):
        setup = build(config_for("corridor-smooth-dpt", data_source=source, smoothing=0.2))
        trainer = Trainer(setup.model, setup.objective, TrainConfig(batch_size=8, num_devices=1))
        logits, labels = jax.numpy.array([[[2.0, 0.0, -1.0]]]), jax.numpy.array([[1]])
        p = jax.nn.log_softmax(logits[0, 0])
        expected = -((0.2 / 3) * p.sum() + 0.8 * p[1])
        np.testing.assert_allclose(trainer.criterion(logits, labels), expected, rtol=1e-6)


def test_a_broken_plugin_is_named_in_one_line(tmp_path, monkeypatch):
    from train import plugins
    from train.__main__ import main

    dist = tmp_path / "broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[icrl.plugins]\nbroken = no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_loaded", None)
    with pytest.raises(SystemExit, match="error: plug-in 'broken' \\(no_such_module_here.*failed to load: ModuleNotFoundError"):
        main(["list"])
    monkeypatch.setattr(plugins, "_loaded", None)
