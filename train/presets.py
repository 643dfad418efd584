"""One registry of named experiments (presets): what ``python -m train list``, ``NAME``, ``NAME --help``,
``eval`` and ``compare`` read. Each built-in method registers its presets in its folder's ``presets.py``
(``train/methods/NAME/presets.py``), from the settings they share (:mod:`train.rooms`); a plug-in
(:mod:`train.plugins`) registers its own with the same :func:`register`.

A preset is a dict of config fields (or a whole ``ExperimentConfig``), built into a config only when a
run asks for it (:func:`train.configs.config_for`): this module and the presets' modules import no JAX,
so listing the presets stays instant (a plug-in's own imports aside).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

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


_PRESETS: dict[str, Preset] = {}
_builtins_loaded = False


def register(name: str, description: str, config: Any, paper: dict | None = None, benchmark: str | None = None) -> Preset:
    """Add preset ``name``. ``config``: an ``ExperimentConfig`` or a dict of its fields (any field, the
    method's and the training ones included); ``paper``: the fields ``--scale paper`` changes;
    ``benchmark``: a common benchmark (:data:`BENCHMARK_NAMES`) whose table it joins (default: the one
    the name starts with, ``darkroom9-…``). Refused: a name taken, a command's name, a name with
    spaces, an empty or multi-line description."""
    if not name or any(c.isspace() for c in name) or name.startswith("-") or name in COMMANDS:
        raise ValueError(f"a preset's name must be one word, not a command's ({', '.join(COMMANDS)}), got {name!r}")
    _builtin()  # the built-in names are taken first
    if name in _PRESETS:
        raise ValueError(f"a preset named {name!r} is already registered")
    if not description or "\n" in description:
        raise ValueError(f"preset {name!r} needs a one-line description, got {description!r}")
    if benchmark is not None and benchmark not in BENCHMARK_NAMES:
        raise ValueError(f"preset {name!r}: benchmark must be one of {BENCHMARK_NAMES}, got {benchmark!r}")
    if not isinstance(config, dict) and not hasattr(config, "objective"):
        raise ValueError(f"preset {name!r}: config must be an ExperimentConfig or a dict of its fields, got {type(config).__name__}")
    if benchmark is None:
        benchmark = next((b for b in BENCHMARK_NAMES if name.startswith(b + "-")), None)
    preset = Preset(name, description, config, dict(paper or {}), benchmark)
    _PRESETS[name] = preset
    return preset


def _builtin() -> None:
    """Register the built-in methods' presets (once), in the methods' order."""
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        from train.methods import BUILTIN  # the registry module alone: no method's code

        for folder, _ in BUILTIN:
            importlib.import_module(f"train.methods.{folder}.presets")


def every(plugins: bool = True) -> dict[str, Preset]:
    """Every preset by name, the built-in ones first; ``plugins``: every installed plug-in loaded first."""
    _builtin()
    if plugins:
        from train.plugins import load_plugins

        load_plugins()
    return dict(_PRESETS)


def get(name: str) -> Preset:
    """Preset ``name`` (a plug-in's too); an unknown name is refused, naming the known ones."""
    found = every(plugins=False).get(name) or every().get(name)
    if found is None:
        raise ValueError(f"unknown experiment {name!r}; valid names: {sorted(every())}")
    return found


def descriptions() -> dict[str, str]:
    """Every preset's one-line description."""
    return {p.name: p.description for p in every().values()}


def benchmarks() -> dict[str, tuple[str, ...]]:
    """Every common benchmark's presets, in the order they were registered (built-in ones first)."""
    presets = every().values()
    return {b: tuple(p.name for p in presets if p.benchmark == b) for b in BENCHMARK_NAMES}


__all__ = ["BENCHMARK_NAMES", "COMMANDS", "Preset", "benchmarks", "descriptions", "every", "get", "register"]
