import os

import pytest

# Tests run on CPU; two host devices let sharding tests run anywhere. Tests compile many small programs and
# run each briefly, so the flags make compiling cheap: XLA's backend optimisation off (1.19x faster on
# tests/test_training.py and test_compare.py, 133 s against 159 s, two workers), LLVM's expensive passes off
# (the tiny DICP and ICEE learning tests 95 s against 102 s), and XLA:CPU's older loop emitters in one
# codegen piece instead of its fusion emitters: the whole suite in two workers 366 s against 629 s without
# these two (one machine, one after the other), every learning test still passing.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=0 "
                      "--xla_llvm_disable_expensive_passes=true --xla_cpu_use_fusion_emitters=false "
                      "--xla_cpu_parallel_codegen_split_count=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# One compilation cache for the session (and the processes tests start): tests that train the same
# program several times (resume after a kill, determinism) compile it once. A fresh directory per
# session, so nothing carries over between runs.
_OWN_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    _OWN_CACHE = os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="icrl-tests-jax-cache-")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


def pytest_sessionfinish(session, exitstatus):
    if _OWN_CACHE is not None:
        import shutil

        shutil.rmtree(_OWN_CACHE, ignore_errors=True)


# The slowest tests start first, alternating between the two workers, so that neither is left with a long
# test at the end while the other idles (durations: python -m pytest -n 2 --durations=30).
SLOWEST_FIRST = (
    "test_radt.py::test_a_tiny_radt_run_beats_random",
    "test_dicp.py::test_a_tiny_dicp_run_beats_random",
    "test_icee.py::test_tiny_icee_beats_random",
    "test_experiments.py::test_experiment_writes_results_and_plot_and_resumes",
    "test_configs.py::test_a_changed_config_never_reuses_a_stale_model",
    "test_training.py::test_resume_after_kill_matches_uninterrupted_run",
    "test_training.py::test_same_seed_same_loss_curve",
    "test_moe.py::test_t2mir_transformer_parallel_equals_step",
    "test_training.py::test_grid_dpt_with_posterior_sampled_labels",
    "test_streams.py::test_streamed_training_is_deterministic",
    "test_training.py::test_ad_s5_end_to_end_imitates_thompson",
    "test_metarl.py::test_tiny_bandit_policy_beats_random",
    "test_metarl.py::test_state_resets_at_task_boundaries_only",
    "test_experiments.py::test_meta_rl_run_evaluates",
    "test_methods.py::test_a_method_registered_from_outside",
)


#: examples/icrl-plugin-example: a plug-in package (an environment, a method, a preset each) that tests install
EXAMPLE_PLUGIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "icrl-plugin-example")


def _plugin_site(tmp_path) -> str:
    """A folder holding the example plug-in's distribution metadata as ``pip install`` leaves it, its entry points
    read from its own pyproject.toml: on ``sys.path`` beside the example's source, the package is installed."""
    import tomllib

    with open(os.path.join(EXAMPLE_PLUGIN, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    dist = tmp_path / "site" / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) for group, points in project["entry-points"].items()]
    (dist / "entry_points.txt").write_text("\n".join(lines))
    return str(tmp_path / "site")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The example plug-in installed for this test (its entry point found, its package importable); returns the site.
    What it registers is gone after the test, as if it were uninstalled: later tests in the worker see the built-in
    methods, presets and environments alone, and the next test that installs it registers it afresh."""
    import sys

    import envs
    from train import methods, plugins, presets

    site = _plugin_site(tmp_path)
    monkeypatch.syspath_prepend(EXAMPLE_PLUGIN)
    monkeypatch.syspath_prepend(site)
    monkeypatch.setattr(plugins, "_loaded", None)  # look for plug-ins again, with this one installed
    monkeypatch.setattr(presets, "_PRESETS", dict(presets.every(plugins=False)))
    monkeypatch.setattr(methods, "_METHODS", dict(methods.METHODS))
    monkeypatch.setattr(envs, "REGISTRY", dict(envs.REGISTRY))
    yield site
    for name in [m for m in sys.modules if m == "icrl_example" or m.startswith("icrl_example.")]:
        del sys.modules[name]


def pytest_collection_modifyitems(config, items):
    def rank(item):
        return next((i for i, name in enumerate(SLOWEST_FIRST) if name in item.nodeid), len(SLOWEST_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order
