"""docs/RESULTS.md holds no number the code did not produce."""

import ast
import glob
import importlib.util
import json
import os
import shutil
import subprocess
from collections import Counter

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _make_results():
    spec = importlib.util.spec_from_file_location("make_results", os.path.join(ROOT, "docs", "make_results.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_page_is_rendered_from_the_summary_and_every_number_comes_from_it():
    """The committed page equals the rendering of docs/results.json (which make_results.py writes
    from the runs), and every number on it went through the renderer's formatter: a number
    typed into the page or into the renderer's prose fails here."""
    module = _make_results()
    with open(os.path.join(ROOT, "docs", "results.json")) as f:
        summary = json.load(f)
    text, printed = module.render(summary)
    with open(os.path.join(ROOT, "docs", "RESULTS.md")) as f:
        assert f.read() == text, "docs/RESULTS.md is stale: run python docs/make_results.py --render-only"
    on_page = Counter(module.NUMBER.findall(text))
    formatted = Counter(n for p in printed for n in module.NUMBER.findall(p))
    assert not on_page - formatted, f"numbers on the page that no data produced: {sorted(on_page - formatted)}"
    for name in module.HEADLINE:
        assert len(summary["experiments"][name]["seeds"]) >= 3, f"{name}: headline figures need at least 3 training seeds"


def test_the_renderer_passes_no_typed_number_through_its_formatter():
    """A number typed into the renderer's code and sent through the formatter (``n(95, "d")``) would
    pass the check above: every number the formatter is given must be computed, not a literal."""
    with open(os.path.join(ROOT, "docs", "make_results.py")) as f:
        tree = ast.parse(f.read())
    typed = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "n" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, (int, float)):
                typed.append(f"line {node.lineno}: n({first.value!r})")
    assert not typed, f"numbers typed into the renderer: {typed}"


def test_results_page_says_how_each_experiment_was_chosen_and_what_code_made_it():
    """Per experiment: whether held-out figures were seen when its settings were chosen, and the commit
    of each seed's run (or that the run predates the record); a seed with provenance shows its commit."""
    module = _make_results()
    with open(os.path.join(ROOT, "docs", "results.json")) as f:
        summary = json.load(f)
    text, _ = module.render(summary)
    for name in summary["experiments"]:
        section = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        seen = "Settings chosen with held-out figures visible." in section
        assert seen == (name in module.HELD_OUT_SEEN), name
        assert "Code: " in section or "made before results recorded their commit" in section, name
    exp = json.loads(json.dumps(next(iter(summary["experiments"].values()))))
    exp["seeds"][0]["provenance"] = {"commit": "0123456789abcdef", "dirty": False, "record_sha256": "fedcba9876543210"}
    text, printed = module.render({"format": summary["format"], "experiments": {"x": exp}})
    assert "commit `0123456789`" in text and "record `fedcba987654`" in text


def test_readme_headline_table_is_rendered_from_the_summary():
    """README's headline table is what the renderer makes of docs/results.json, every number in it
    through the formatter: a figure typed into README's table, or left stale by new results, fails."""
    module = _make_results()
    with open(os.path.join(ROOT, "docs", "results.json")) as f:
        summary = json.load(f)
    table, printed = module.render_readme_table(summary)
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert module.readme_with_table(readme, table) == readme, "README's table is stale: python docs/make_results.py --render-only"
    on_table = Counter(module.NUMBER.findall(table))
    formatted = Counter(n for p in printed for n in module.NUMBER.findall(p))
    assert not on_table - formatted, sorted(on_table - formatted)
    assert all(f"[{name}](docs/RESULTS.md#{name})" in table for name, exp in summary["experiments"].items()
               if exp["config"]["kind"] == "regret")
    assert "| darkroom9-ad" in table.split("bandit experiment")[0]  # the common benchmark's rows come first


def test_every_relative_link_in_readme_and_docs_resolves():
    import re

    pages = [os.path.join(ROOT, "README.md")] + [os.path.join(ROOT, "docs", f) for f in os.listdir(os.path.join(ROOT, "docs"))
                                                 if f.endswith(".md")]
    broken = []
    for page in pages:
        with open(page) as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if "://" in target or target.startswith("#"):
                continue
            path = os.path.join(os.path.dirname(page), target.split("#")[0])
            if not os.path.exists(path):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target}")
    assert not broken, broken


def test_readme_is_read_in_five_minutes():
    """The front door stays short (about 1,200 words); measurements and notes live on docs/ pages."""
    with open(os.path.join(ROOT, "README.md")) as f:
        assert len(f.read().split()) <= 1200


def test_a_runs_code_is_changed_by_code_edits_not_by_documentation_edits(tmp_path):
    """Results record their commit and whether the tree differed from it: an edited page, figure or
    results summary leaves the code as committed; an edited module does not."""
    from icrl.results import code_version

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = lambda *args: subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)  # noqa: E731
    (tmp_path / "docs").mkdir()
    files = {"mod.py": "x = 1\n", "README.md": "# a\n", "docs/plot.png": "png", "docs/results.json": "{}"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    clean = code_version(str(tmp_path))
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    for name in ("README.md", "docs/plot.png", "docs/results.json"):
        (tmp_path / name).write_text("edited")
    assert code_version(str(tmp_path)) == clean
    (tmp_path / "mod.py").write_text("x = 2\n")
    assert code_version(str(tmp_path))["dirty"] is True


def test_stored_benchmark_rows_name_their_seeds_and_old_entries_have_them_inferred():
    module = _make_results()
    old = {"seeds": [0, 1, 2], "missing": ["room-ad-seed1", "room-dicp-seed0", "room-dicp-seed2"],
           "rows": [{"name": "room-ad", "fractions": [[0.1], [0.3]], "minutes": 2.0},
                    {"name": "room-dicp (planning off) [160 of 1296 tasks]", "fractions": [[0.2]], "minutes": 1.0},
                    {"name": "psrl", "fractions": [[1.0], [1.0], [0.9]], "minutes": None}]}
    ad, dicp, psrl = module.stored_rows(old)
    assert (ad.seed_ids, ad.seed_minutes, dicp.seed_ids, psrl.seed_ids, psrl.minutes) == ((0, 2), (2.0, 2.0), (1,), (0, 1, 2), None)
    new = {"seeds": [0, 2], "missing": [], "rows": [{"name": "room-ad", "seeds": [2, 0], "fractions": [[0.1], [0.3]],
                                                    "seed_minutes": [1.0, 3.0]}]}
    (row,) = module.stored_rows(new)
    assert row.seed_ids == (2, 0) and row.minutes == 2.0
    old["missing"] = []  # three seeds named for two curves
    with pytest.raises(ValueError, match="'room-ad': 2 curves but seeds \\[0, 1, 2\\]"):
        module.stored_rows(old)


def test_preset_times_file_is_checked_before_it_reaches_the_summary(tmp_path):
    """make_results.py --preset-times reads what benchmarks/preset_times.py --json wrote; a missing, corrupt or
    foreign file is refused with its path and what was expected."""
    module = _make_results()
    good = {"format": "icrl-preset-times/1", "devices": 2, "cores": 2, "rounds": 3, "date": "2026-01-01",
            "presets": {"darkroom9-ad": {"step_ms": 190.0, "steps": 1500, "minutes": 4.75, "data_minutes": 0.3}}}
    path = tmp_path / "times.json"
    path.write_text(json.dumps(good))
    assert module.read_preset_times(str(path)) == good
    cases = [("missing.json", None, "cannot read it"), ("corrupt.json", "{", "cannot read it"),
             ("foreign.json", json.dumps({"format": "other"}), "expected 'icrl-preset-times/1'"),
             ("empty.json", json.dumps({**good, "presets": {}}), "missing")]
    for name, text, message in cases:
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(SystemExit, match=message):
            module.read_preset_times(str(tmp_path / name))


def _quoted_commands():
    """``(where, words)`` of every ``python -m train …`` command quoted in README.md, docs/*.md and the module
    docstrings of docs/make_results.py, train/ and benchmarks/ (a command ends at a backtick, a line's end, a
    shell operator, a comment or a closing parenthesis), less those quoted with the error they end in."""
    import glob
    import re

    texts = [(p, open(p).read()) for p in [os.path.join(ROOT, "README.md"), *glob.glob(os.path.join(ROOT, "docs", "*.md"))]]
    for p in [os.path.join(ROOT, "docs", "make_results.py"), *glob.glob(os.path.join(ROOT, "train", "*.py")),
              *glob.glob(os.path.join(ROOT, "benchmarks", "*.py"))]:
        texts.append((p, ast.get_docstring(ast.parse(open(p).read())) or ""))
    for path, text in texts:
        for match in re.finditer(r"python -m train (?!\.)([^`\n|;&)#]*)", text):
            words = match.group(1).split()
            if text[match.end():].lstrip("\n").startswith("error:"):
                continue  # a quoted refusal: the command is shown failing on purpose
            if words:
                yield os.path.relpath(path, ROOT), words


def _accepted_flags(command: str, capsys) -> set[str]:
    """The flags ``python -m train COMMAND --help`` lists."""
    import re

    from train.__main__ import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", capsys.readouterr().out))


def test_every_quoted_train_command_names_only_flags_the_cli_has(capsys, installed):
    """A command the docs quote runs as written: its experiment (or a placeholder such as NAME) exists and each
    flag is one that command's --help lists (a placeholder's: some preset's). The example plug-in is installed,
    as its pages have it."""
    from train.presets import descriptions

    presets = descriptions()

    commands = list(_quoted_commands())
    assert len(commands) > 20  # the docs quote many; the finder finds them
    cache, every_preset = {}, None
    distributed = {"--distributed", "--coordinator", "--num-processes", "--process-id"}
    for where, words in commands:
        name, flags = words[0], {w.split("=")[0] for w in words[1:] if w.startswith("--")}
        if name in ("list", "-h", "--help") or name.startswith("["):
            continue
        if name in presets or name in ("compare", "eval", "baselines"):
            if name not in cache:
                cache[name] = _accepted_flags(name, capsys)
            accepted = cache[name]
        else:
            assert name.isupper() or name.startswith("{"), f"{where}: `python -m train {' '.join(words)}` names no experiment"
            if every_preset is None:
                every_preset = set().union(*(_accepted_flags(p, capsys) for p in presets))
            accepted = every_preset
        unknown = flags - accepted - distributed
        assert not unknown, f"{where}: `python -m train {' '.join(words)}` names flags the CLI lacks: {sorted(unknown)}"


def test_choices_are_gathered_from_their_runs_and_rendered_from_the_summary(tmp_path):
    """--choices RUN_DIR: a fold run's agents and fractions reach the summary and a table of the page, each
    number through the formatter; a bandit run is refused."""
    module = _make_results()
    run = tmp_path / "fold1-dicp"
    run.mkdir()
    methods = {m: {"episode_return": [2.0, 4.0], "episode_return_ci95": [0.0, 0.0], "optimal_return": 8.0,
                   "episode_fraction": [0.25, 0.5], "episode_fraction_ci95": [0.0, 0.0]} for m in ("DICP", "DICP (planning off)", "random")}
    (run / "results.json").write_text(json.dumps({"schema": "icrl-results/1", "methods": methods, "optimal_return": 8.0,
                                                  "num_goals": 13, "split": "test",
                                                  "config": {"split_seed": 1, "train": {"seed": 0}}}))
    (choice,) = module.gather_choices([str(run)])
    assert choice["split_seed"] == 1 and choice["num_goals"] == 13 and set(choice["agents"]) == {"DICP", "DICP (planning off)"}
    n = module.Numbers()
    text = "\n".join(module._choice_section(n, [choice]))
    assert "| fold1-dicp | DICP (planning off) | 0.25 |  |  |  |  | 1 | 13 | — |" in text  # two episodes: episode 1 only
    bandit = tmp_path / "bandit"
    bandit.mkdir()
    (bandit / "results.json").write_text(json.dumps({"schema": "icrl-results/1", "methods": {"DPT": {
        "cumulative_regret": [1.0], "cumulative_regret_ci95": [0.0]}}}))
    with pytest.raises(SystemExit, match="reports regret"):
        module.gather_choices([str(bandit)])


def test_the_api_reference_renders_the_interfaces_from_their_docstrings(tmp_path):
    """pdoc (the dev extra) renders the reference of the public interfaces: Agent, rollout, Method, the objective's
    Protocol, Dataset, load_agent and the preset registry, each with its docstring."""
    pdoc = pytest.importorskip("pdoc")
    pdoc.pdoc("icrl.agents.base", "icrl.rollout", "icrl.objective", "icrl.data", "icrl.runs", "train.methods.base",
              "train.presets", output_directory=tmp_path)
    pages = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*.html")}
    for page, name in {"icrl/agents/base.html": "Agent", "train/methods/base.html": "Method", "icrl/rollout.html": "rollout",
                       "icrl/objective.html": "Objective", "icrl/data.html": "Dataset", "icrl/runs.html": "load_agent",
                       "train/presets.html": "register"}.items():
        assert page in pages, sorted(pages)
        assert f'id="{name}"' in pages[page], (page, name)


def _resolves(name: str) -> bool:
    """Whether the dotted ``name`` is a module or an attribute of one."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_module_path_quoted_in_the_docs_resolves():
    """Every `icrl.…`, `train.…` or `envs.…` name quoted in README and docs/ is importable, as are the new paths of
    docs/changelog.md (its first column names what was, and is gone). `icrl.plugins` is the entry-point group."""
    import re

    pattern = re.compile(r"`((?:icrl|train|envs)(?:\.[A-Za-z_]\w*)+)`")
    broken = []
    for path in [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        lines = open(path).read().splitlines()
        if path.endswith("changelog.md"):  # a table row | was | is |: the new paths alone
            lines = [line.split("|")[2] if line.startswith("|") and line.count("|") >= 3 else line for line in lines]
        for line in lines:
            broken += [f"{os.path.relpath(path, ROOT)}: {m}" for m in pattern.findall(line)
                       if m != "icrl.plugins" and not _resolves(m)]
    assert not broken, broken
