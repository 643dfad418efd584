"""One registry of named experiments (presets): what ``python -m train list``, ``NAME``, ``NAME --help``,
``eval`` and ``compare`` read. The built-in presets are :data:`train.configs.EXPERIMENTS`, described in
:mod:`train.catalog`; a plug-in (:mod:`train.plugins`) adds its own with :func:`register`.

This module imports no JAX: listing the presets stays instant (a plug-in's own imports aside).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from train.catalog import DESCRIPTIONS

#: Names the command line keeps for itself.
COMMANDS = ("list", "eval", "compare", "baselines")
#: The common benchmarks: a built-in preset belongs to the one its name starts with (``darkroom9-ad``).
BENCHMARK_NAMES = ("darkroom9", "keydoor9", "biasedroom9", "darkroom20")


@dataclass(frozen=True)
class Preset:
    """A named experiment: ``config`` (an ``ExperimentConfig`` at CPU scale, or the dict of fields that
    makes one from the defaults), what ``--scale paper`` changes, a one-line ``description``, and the
    common ``benchmark`` it is a row of (``python -m train compare``), if any."""

    name: str
    description: str
    config: Any = None
    paper: dict = field(default_factory=dict)
    benchmark: str | None = None


_ADDED: dict[str, Preset] = {}


def register(name: str, description: str, config: Any, paper: dict | None = None, benchmark: str | None = None) -> Preset:
    """Add preset ``name``. ``config``: an ``ExperimentConfig`` or a dict of its fields (any field, the
    method's and the training ones included); ``paper``: the fields ``--scale paper`` changes;
    ``benchmark``: a common benchmark (:data:`BENCHMARK_NAMES`) whose table it joins. Refused: a name
    taken, a command's name, a name with spaces, an empty or multi-line description."""
    if not name or any(c.isspace() for c in name) or name.startswith("-") or name in COMMANDS:
        raise ValueError(f"a preset's name must be one word, not a command's ({', '.join(COMMANDS)}), got {name!r}")
    if name in DESCRIPTIONS or name in _ADDED:
        raise ValueError(f"a preset named {name!r} is already registered")
    if not description or "\n" in description:
        raise ValueError(f"preset {name!r} needs a one-line description, got {description!r}")
    if benchmark is not None and benchmark not in BENCHMARK_NAMES:
        raise ValueError(f"preset {name!r}: benchmark must be one of {BENCHMARK_NAMES}, got {benchmark!r}")
    if not isinstance(config, dict) and not hasattr(config, "objective"):
        raise ValueError(f"preset {name!r}: config must be an ExperimentConfig or a dict of its fields, got {type(config).__name__}")
    preset = Preset(name, description, config, dict(paper or {}), benchmark)
    _ADDED[name] = preset
    return preset


def added() -> dict[str, Preset]:
    """The presets plug-ins registered (every installed plug-in loaded first)."""
    from train.plugins import load_plugins

    load_plugins()
    return dict(_ADDED)


def descriptions() -> dict[str, str]:
    """Every preset's one-line description, the built-in ones first, then the plug-ins'."""
    return {**{k: v for k, v in DESCRIPTIONS.items() if k != "baselines"}, **{p.name: p.description for p in added().values()}}


def benchmark_of(name: str) -> str | None:
    """The common benchmark preset ``name`` is a row of (None: none)."""
    if name in _ADDED:
        return _ADDED[name].benchmark
    return next((b for b in BENCHMARK_NAMES if name.startswith(b + "-")), None)


def benchmarks() -> dict[str, tuple[str, ...]]:
    """Every common benchmark's presets, in the order they were registered (built-in ones first)."""
    names = list(descriptions())
    return {b: tuple(n for n in names if benchmark_of(n) == b) for b in BENCHMARK_NAMES}


__all__ = ["BENCHMARK_NAMES", "COMMANDS", "Preset", "added", "benchmark_of", "benchmarks", "descriptions", "register"]
