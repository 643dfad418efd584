"""docs/RESULTS.md holds no number the code did not produce."""

import importlib.util
import json
import os
from collections import Counter

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
