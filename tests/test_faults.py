"""Training that survives faults: divergence, a damaged checkpoint, a second writer."""

import json
import os
import socket
import subprocess
import sys

import chex
import jax
import pytest

import envs
from icrl.checkpoints import Checkpoints, NonFiniteError, abstract_params, all_finite
from icrl.models import TokenSpec, Transformer
from icrl.runlock import RunLock, RunLockedError
from icrl.training import TrainConfig, train
from train.methods.dpt.data import make_dpt_dataset
from train.methods.dpt.objective import DPTObjective

HORIZON = 10


@pytest.fixture(scope="module")
def setup():
    env, _ = envs.make("bernoulli-bandit", num_arms=3, horizon=HORIZON)
    spec = TokenSpec.for_env(env)
    data = make_dpt_dataset(env, jax.random.PRNGKey(0), 200, HORIZON)
    model = Transformer(spec.token_dim, 3, max_len=HORIZON + 1, num_layers=1, num_heads=2, width=16)
    return model, DPTObjective(spec), data


def _strict(line):
    return json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"not JSON: {c}")))


def test_divergence_stops_naming_the_step_and_saves_nothing_non_finite(setup, tmp_path):
    model, objective, data = setup
    cfg = TrainConfig(train_steps=60, batch_size=8, learning_rate=1e9, warmup_steps=0, checkpoint_every=2, num_devices=1)
    with pytest.raises(NonFiniteError, match=r"not finite at step (\d+); stopped at step \d+ without saving") as err:
        train(model, objective, data, cfg, run_dir=str(tmp_path), progress=False)
    first_bad = int(err.value.args[0].split("at step ")[1].split(";")[0])
    stopped = int(err.value.args[0].split("stopped at step ")[1].split(" ")[0])
    assert stopped - first_bad < 10  # within a few steps, with no host round trip per step
    with Checkpoints(str(tmp_path / "checkpoints")) as checkpoints:
        steps = checkpoints.all_steps()
        assert all(step < first_bad for step in steps)
        for step in steps:
            assert all_finite(checkpoints.restore_params(abstract_params(model), step))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert lines and all(_strict(line) for line in lines)  # strict JSON: no NaN literals
    assert _strict(lines[-1])["error"] == "non-finite loss or gradient"


@pytest.mark.slow
def test_cli_exits_non_zero_on_divergence(tmp_path):
    from train.__main__ import main

    args = ["bandit-dpt", "--learning-rate", "1e9", "--warmup-steps", "0", "--train-steps", "60", "--num-train-tasks", "300",
            "--eval-tasks", "20", "--horizon", "10", "--width", "16", "--num-layers", "1", "--batch-size", "16",
            "--out-dir", str(tmp_path)]
    with pytest.raises(SystemExit, match="not finite at step"):
        main(args)
    assert not (tmp_path / "bandit-dpt" / "results.json").exists()  # the diverged model is never evaluated


def test_corrupt_newest_checkpoint_falls_back_to_the_one_before(setup, tmp_path):
    model, objective, data = setup
    cfg = TrainConfig(train_steps=12, batch_size=8, warmup_steps=2, checkpoint_every=5, num_devices=1)
    full, _ = train(model, objective, data, cfg, run_dir=str(tmp_path / "a"), progress=False)
    train(model, objective, data, cfg, run_dir=str(tmp_path / "b"), progress=False, stop_after=10)
    state_dir = tmp_path / "b" / "checkpoints" / "10" / "state"
    for root, _, files in os.walk(state_dir):
        for f in files:
            with open(os.path.join(root, f), "wb") as fh:
                fh.write(b"garbage")
    with pytest.warns(UserWarning, match=r"checkpoints/10 is corrupt.*moved it to .*10\.unreadable"):
        resumed, _ = train(model, objective, data, cfg, run_dir=str(tmp_path / "b"), progress=False)
    chex.assert_trees_all_close(resumed, full, atol=1e-7)
    assert (tmp_path / "b" / "checkpoints" / "10.unreadable").is_dir()  # set aside, never deleted


def test_one_run_per_directory(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".lock").write_text(f"{socket.gethostname()} {sleeper.pid}\n")
        with pytest.raises(RunLockedError, match=rf"in use by process {sleeper.pid}"):
            with RunLock(str(tmp_path)):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with pytest.warns(UserWarning, match=rf"taking over the lock .* of process {sleeper.pid}"):  # now dead: stale
        with RunLock(str(tmp_path)):
            with RunLock(str(tmp_path)):  # the same process may take it again
                assert (tmp_path / ".lock").read_text().split()[1] == str(os.getpid())
    assert not (tmp_path / ".lock").exists()


@pytest.mark.slow
def test_cli_resumes_from_the_checkpoint_before_a_damaged_newest_one(tmp_path, capsys):
    """Through the CLI: the newest checkpoint's record file and its state are damaged; the run is not
    refused (nor told to delete the run directory): it sets the damaged one aside, resumes from the
    one before and finishes with the uninterrupted run's parameters."""
    from icrl.runs import load_model
    from train.__main__ import main

    args = ["bandit-dpt", "--train-steps", "6", "--checkpoint-every", "3", "--num-train-tasks", "200", "--eval-tasks", "20",
            "--horizon", "10", "--width", "16", "--num-layers", "1", "--batch-size", "8", "--data-source", "fixed",
            "--baselines", "random", "--warmup-steps", "1"]
    main(args + ["--out-dir", str(tmp_path / "b")])
    _, full, _ = load_model(str(tmp_path / "b" / "bandit-dpt"))  # the uninterrupted run's parameters, read before the damage
    newest = tmp_path / "b" / "bandit-dpt" / "checkpoints" / "6"
    for root, _, files in [*os.walk(newest / "record"), *os.walk(newest / "state")]:
        for f in files:
            with open(os.path.join(root, f), "wb") as fh:
                fh.write(b"garbage")
    (tmp_path / "b" / "bandit-dpt" / "results.json").unlink()
    with pytest.warns(UserWarning, match=r"checkpoints/6 is (unreadable|corrupt).*moved it to .*6\.unreadable"):
        main(args + ["--out-dir", str(tmp_path / "b")])
    assert (newest.parent / "6.unreadable").is_dir() and (tmp_path / "b" / "bandit-dpt" / "results.json").exists()
    _, resumed, _ = load_model(str(tmp_path / "b" / "bandit-dpt"))
    chex.assert_trees_all_close(resumed, full, atol=1e-7)
