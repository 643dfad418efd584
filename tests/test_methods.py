"""The method interface: a method registered from outside the package runs end to end, with its own
settings as flags and in the checkpoint's record, and train.experiments names no method."""

import ast
import dataclasses
import json
import os

import pytest

from train import methods
from train.configs import ExperimentConfig, replace
from train.fields import setting
from train.methods import Method


@dataclasses.dataclass(frozen=True)
class ImitationConfig:
    teacher: str = setting("thompson", "data", "the agent whose actions are imitated")
    imitation_tasks: int = setting(64, "data", "tasks in the dataset")


class Imitation(Method):
    """A toy method: imitate a teacher's actions along its own contexts (behaviour cloning)."""

    name, label, Config = "toy-imitation", "IMITATION", ImitationConfig

    def make_data(self, cfg, env, key, num_tasks):
        from train.methods.dpt.data import make_dpt_dataset

        return make_dpt_dataset(env, key, cfg.method.imitation_tasks, env.horizon, split="train", collector=cfg.method.teacher,
                                labels="collector")

    def objective(self, cfg, env, spec):
        from train.methods.dpt.objective import DPTObjective

        return DPTObjective(spec), env.horizon + 1


@pytest.fixture
def toy():
    method = methods.register(Imitation())
    yield method
    del methods.METHODS[method.name]


def test_a_method_registered_from_outside_runs_end_to_end(tmp_path, toy):
    from train.__main__ import main
    from train.experiments import run

    cfg = replace(ExperimentConfig(), objective="toy-imitation", teacher="ucb", horizon=10, train_steps=3, batch_size=8, width=16,
                  num_layers=1, eval_tasks=16, baselines=("random",), out_dir=str(tmp_path))
    assert cfg.method == ImitationConfig(teacher="ucb") and cfg.teacher == "ucb"
    results = run(cfg, "toy", progress=False)
    assert set(results["methods"]) == {"IMITATION", "random"} and results["config"]["method"]["teacher"] == "ucb"
    from icrl.runs import read_record

    record = read_record(str(tmp_path / "toy"))
    assert record["experiment"]["teacher"] == "ucb" and record["experiment"]["objective"] == "toy-imitation"
    with pytest.raises(Exception, match="teacher='ucb', but this run has experiment.teacher='thompson'"):
        run(replace(cfg, teacher="thompson"), "toy", progress=False)  # another setting of the method: another model
    main(["eval", str(tmp_path / "toy"), "--eval-split", "train", "--eval-tasks", "8"])  # the config reads back, section and all
    again = json.loads((tmp_path / "toy" / "results_eval_train.json").read_text())
    assert again["split"] == "train" and again["num_tasks"] == 8 and set(again["methods"]) == {"IMITATION", "random"}


def test_settings_belong_to_one_method_and_unknown_methods_are_named(toy):
    with pytest.raises(ValueError, match="unknown method 'dqn'; registered methods: .*'toy-imitation'"):
        ExperimentConfig(objective="dqn")
    with pytest.raises(ValueError, match="'teacher' is a setting of method 'toy-imitation'; this experiment's method is 'dpt'"):
        replace(ExperimentConfig(), teacher="ucb")
    with pytest.raises(ValueError, match="already registered"):
        methods.register(type("Other", (Imitation,), {})())
    assert methods.owner("collector").name == "dpt" and methods.owner("teacher") is toy
    # a method that does not say it streams is refused a streamed source when the config is made, not at training
    with pytest.raises(ValueError, match="method 'toy-imitation' trains on fixed data: data_source must be one of \\('fixed',\\), "
                                         "got 'stream'"):
        replace(ExperimentConfig(), objective="toy-imitation", data_source="stream")


def test_experiments_module_names_no_method():
    """train/experiments.py runs every method through the interface: no method's name or setting appears in it."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "train", "experiments.py")
    tree = ast.parse(open(path).read())
    names = set(methods.METHODS)
    settings = {f.name for m in methods.METHODS.values() for f in m.settings()}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert node.value not in names, f"train/experiments.py names method {node.value!r} (line {node.lineno})"
        if isinstance(node, ast.Attribute):
            assert node.attr not in settings, f"train/experiments.py reads setting {node.attr!r} (line {node.lineno})"
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith(("icrl.objectives", "icrl.streams", "icrl.metarl")), node.module


@pytest.mark.parametrize("preset", ["bandit-dpt", "darkroom9-dpt", "darkroom9-ad", "darkroom9-icee", "darkroom9-radt", "darkroom9-dicp"])
def test_every_supervised_methods_objective_meets_the_written_interface(preset):
    from icrl.objective import Objective
    from train import config_for
    from train.experiments import build

    objective = build(config_for(preset)).objective
    assert isinstance(objective, Objective), type(objective)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imports(path: str) -> list[tuple[str, int]]:
    """Every module ``path`` imports (at any depth: imports inside functions count), with its line."""
    tree = ast.parse(open(path).read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module or "", node.lineno))
        elif isinstance(node, ast.ImportFrom):  # relative: within the file's own package
            found.append(("." * node.level + (node.module or ""), node.lineno))
    return found


def _files(*folders: str) -> list[str]:
    return sorted(os.path.join(d, f) for folder in folders for d, _, fs in os.walk(os.path.join(ROOT, folder))
                  for f in fs if f.endswith(".py"))


def test_no_import_runs_back_up_the_layers():
    """envs < icrl < train: a lower layer imports nothing of a higher one (not even inside a function); the registry
    and Method base of train/methods import no method folder; inside a method folder, its parts (objective, data,
    stream, agent) import neither the folder's method.py nor its presets."""
    higher = {"envs": ("icrl", "train"), "icrl": ("train",)}
    for layer, above in higher.items():
        for path in _files(layer):
            for module, line in _imports(path):
                assert not module.split(".")[0] in above, f"{os.path.relpath(path, ROOT)}:{line} imports {module}"
    folders = [d for d in os.listdir(os.path.join(ROOT, "train", "methods")) if os.path.isdir(os.path.join(ROOT, "train", "methods", d))
               and not d.startswith("__")]
    for name in ("base.py", "__init__.py"):
        for module, line in _imports(os.path.join(ROOT, "train", "methods", name)):
            assert not any(module.startswith(f"train.methods.{d}") for d in folders), f"train/methods/{name}:{line} imports {module}"
    for folder in folders:
        for path in _files(os.path.join("train", "methods", folder)):
            if os.path.basename(path) in ("method.py", "__init__.py", "presets.py"):
                continue
            for module, line in _imports(path):
                assert not module.endswith((".method", ".presets")) and module not in (".method", ".presets"), (
                    f"{os.path.relpath(path, ROOT)}:{line} imports {module}, above it in its folder")


def test_shared_modules_name_no_method():
    """What every method shares (objectives' common parts, the dataset container, core types, the trainer, streams, the
    objective interface) names no method: each method's parts live in its folder."""
    import re

    labels = r"\b(DPT|AD|ICEE|RA-DT|RADT|DICP|T2MIR|RL2|RL²|meta-RL)\b"
    names = {folder for folder, _ in methods.BUILTIN}
    for path in ("icrl/objectives.py", "icrl/data.py", "icrl/types.py", "icrl/training.py", "icrl/streams.py", "icrl/objective.py"):
        text = open(os.path.join(ROOT, path)).read()
        found = re.search(labels, text)
        assert found is None, f"{path} names {found.group(0)!r} (line {text[:found.start()].count(chr(10)) + 1})"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in names, f"{path} names method {node.value!r} (line {node.lineno})"
