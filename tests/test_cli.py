"""The command line guides: every bad value is refused in one line naming it, before any work."""

import os
import subprocess
import sys

import pytest

from train.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bad(tmp_path):
    out = str(tmp_path / "out")
    return [
        (["bandit-dqn"], "unknown experiment 'bandit-dqn'"),
        (["bandit-dpt", "--train-steps", "-5"], "train_steps must be an integer >= 1, got -5"),
        (["bandit-dpt", "--train-steps", "abc"], "argument --train-steps: invalid int value: 'abc'"),
        (["bandit-dpt", "--num-stepz", "3"], "unrecognized arguments: --num-stepz 3"),
        (["bandit-dpt", "--objective", "foo"], "bandit-dpt trains method 'dpt': the method is the preset's"),
        (["darkroom-ad", "--collector", "ucb"], "--collector is a setting of method 'dpt'; darkroom-ad trains 'ad'"),
        (["bandit-dpt", "--eval-split", "heldout"], "eval_split must be one of ('train', 'test'), got 'heldout'"),
        (["bandit-dpt", "--eval-tasks", "0"], "eval_tasks must be an integer >= 1, got 0"),
        (["bandit-dpt", "--scale", "huge"], "argument --scale: invalid choice: 'huge'"),
        (["bandit-dpt", "--backbone", "lstm"], "backbone must be one of"),
        (["bandit-dpt", "--dropout", "1.5"], "dropout must be in [0, 1), got 1.5"),
        (["bandit-dpt", "--learning-rate", "0"], "learning_rate must be > 0, got 0.0"),
        (["bandit-dpt", "--collector", "dirichlet,dqn"], "unknown agent 'dqn'"),
        (["bandit-dpt", "--baselines", "psrl"], "finite task pool"),
        (["bandit-dpt", "--lhf"], "learning-history filtering weighs a fixed set of histories"),
        (["darkroom-ad", "--lhf-keep", "1.5"], "lhf_keep must be in (0, 1], got 1.5"),
        (["darkroom-ad", "--context-episodes", "20"], "a window of 20 episodes"),
        (["darkroom-ad", "--env", "lunar"], "lunar"),
        (["darkroom9-icee", "--acting-share", "1.5"], "acting_share must be in [0, 1], got 1.5"),
        (["bandit-dpt", "--run-name", "a/b"], "a run name is one directory name"),
        (["bandit-dpt", "--out-dir", "/dev/null"], "cannot write the run directory '/dev/null/bandit-dpt'"),
        (["baselines", "--num-tasks", "0"], "num_tasks must be an integer >= 1, got 0"),
        (["eval"], "the following arguments are required: RUN_DIR"),
        (["eval", str(tmp_path / "nothing")], "no results.json in"),
        (["eval", str(tmp_path / "nothing"), "--eval-tasks", "x"], "argument --eval-tasks: invalid int value: 'x'"),
    ], out


def test_twenty_bad_invocations_each_get_one_line_naming_the_problem_before_any_work(tmp_path):
    cases, out = _bad(tmp_path)
    assert len(cases) >= 20
    for argv, expected in cases:
        if "--out-dir" not in argv and argv[0] not in ("eval", "baselines", "bandit-dqn"):
            argv = argv + ["--out-dir", out]
        with pytest.raises(SystemExit) as err:
            main(argv)
        message = str(err.value.code)
        assert message.startswith("error: ") and "\n" not in message, (argv, message)
        assert expected in message, (argv, message)
    assert not os.path.exists(out) or not os.listdir(out)  # refused before any run directory was made


def test_list_is_fast_and_names_every_experiment_without_importing_jax():
    """Every preset (registered by its method's presets.py) is listed, grouped, without JAX being imported; each
    benchmark's rows come in the order its presets are registered; every preset builds a valid config."""
    from train import EXPERIMENTS
    from train.presets import BENCHMARK_NAMES, benchmarks, descriptions

    assert set(descriptions()) == set(EXPERIMENTS) and len(EXPERIMENTS) > 50
    assert benchmarks() == {b: tuple(n for n in EXPERIMENTS if n.startswith(b + "-")) for b in BENCHMARK_NAMES}
    code = "import sys; from train.__main__ import main; main(['list']); assert 'jax' not in sys.modules, 'jax imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert all(name in done.stdout for name in descriptions()) and "python -m train eval RUN_DIR" in done.stdout
    assert "the common benchmark: Dark Room 9x9" in done.stdout and done.stdout.count("python -m train compare darkroom9") == 1


def test_help_groups_the_flags_gives_each_a_text_and_shows_only_the_methods_own(capsys):
    with pytest.raises(SystemExit):
        main(["bandit-dpt", "--help"])
    dpt = capsys.readouterr().out
    for title in ("environment:", "data:", "model:", "training:", "evaluation:", "output:"):
        assert title in dpt
    assert "--collector" in dpt and "--ppo-epochs" not in dpt and "--pool-size" not in dpt and "--run-name" in dpt
    with pytest.raises(SystemExit):
        main(["darkroom-rl2-s5", "--help"])
    rl2 = capsys.readouterr().out
    assert "--ppo-epochs" in rl2 and "--collector" not in rl2 and "--microbatches" not in rl2
    # only the fields the preset's environment takes: a room has a size and no arms, a bandit arms and no size
    assert "--size" in rl2 and "--split-seed" in rl2 and "--num-arms" not in rl2 and "--basis" not in rl2
    assert "--num-arms" in dpt and "--size" not in dpt and "--split-seed" not in dpt


def test_run_name_and_flags_reach_the_run(tmp_path, monkeypatch):
    """The CLI hands the run its name (--run-name, else the preset's) and the parsed config, with the
    preset's values where no flag is given. (``eval`` is tested on a real run in test_experiments.)"""
    import train.experiments

    calls = []
    monkeypatch.setattr(train.experiments, "run", lambda cfg, name, progress=True: calls.append((cfg, name)))
    main(["darkroom-ad", "--run-name", "v2", "--width", "32", "--out-dir", str(tmp_path)])
    main(["darkroom-ad", "--out-dir", str(tmp_path)])
    (v2, name), (preset, default_name) = calls
    assert (name, default_name) == ("v2", "darkroom-ad")
    assert v2.width == 32 and preset.width == 64 and v2.train.train_steps == preset.train.train_steps == 1500


def test_a_script_makes_the_command_lines_devices(monkeypatch):
    """train.devices.use_every_core: one host device per core (a power of two, at most 8) unless XLA_FLAGS chose a
    count; after JAX has started (as in this test process) it warns and changes nothing."""
    import jax._src.xla_bridge as bridge

    from train import devices

    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    monkeypatch.setattr(bridge, "backends_are_initialized", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_foo=1")
    assert devices.use_every_core() == 4 and os.environ["XLA_FLAGS"] == "--xla_cpu_foo=1 --xla_force_host_platform_device_count=4"
    assert devices.use_every_core() == 0  # a count already chosen is left alone
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setattr(bridge, "backends_are_initialized", lambda: True)
    with pytest.warns(RuntimeWarning, match="after JAX started its backends"):
        assert devices.use_every_core() == 0
    assert os.environ["XLA_FLAGS"] == ""
