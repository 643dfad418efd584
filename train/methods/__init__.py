"""In-context RL methods, one module each, registered by name.

A :class:`Method` says everything an experiment needs to know about one way of training
an in-context learner, so that :mod:`train.experiments` runs generate → train → evaluate
without naming any method:

- its own settings, a frozen dataclass (:attr:`Method.Config`) that checks its values; an
  experiment holds it as ``cfg.method`` and every field is also a ``--flag``;
- :meth:`Method.check`: checks across its settings and the experiment's common ones;
- :meth:`Method.make_data`: the training data it samples from (``None``: it makes its own,
  streamed inside the step or as fresh trials);
- :meth:`Method.objective`: how a batch and its loss are made, and the sequence length the
  model trains on;
- :meth:`Method.agents`: how the trained model is deployed (which agent acts, with what);
- :meth:`Method.record_extras`: what a checkpoint's record carries besides its settings.

Plug-ins that work across methods (learning-history filtering, T2MIR layers, backbones)
stay common settings. Adding a method: one module with a :class:`Method` subclass
(:mod:`train.methods.base`), its presets and its tests, and one line below; from outside
the package, a plug-in (:mod:`train.plugins`) that calls :func:`register`.
"""

from __future__ import annotations

import importlib

from train.methods.base import (FLAT_RECORD_DEFAULTS, WINDOW_STARTS, Method, check_window_starts,  # noqa: F401
                                check_window_steps)

#: The built-in methods, one folder each (``train/methods/NAME/``), in the order they are registered (AD before
#: RA-DT and DICP, which share its ``source`` setting) and their presets listed. A method's code is imported the
#: first time a method is looked up, so that listing the presets imports no JAX.
BUILTIN = (("ad", "AD"), ("dpt", "DPT"), ("rl2", "RL2"), ("icee", "ICEE"), ("radt", "RADT"), ("dicp", "DICP"))
_METHODS: dict[str, Method] = {}
_builtins_loaded = False


def _registry() -> dict[str, Method]:
    """Every registered method, the built-in ones loaded first."""
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for folder, cls in BUILTIN:
            register(getattr(importlib.import_module(f"train.methods.{folder}.method"), cls)())
    return _METHODS


def __getattr__(name: str):
    if name == "METHODS":  # the registry as a dict (the built-in methods loaded on first use)
        return _registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register(method: Method) -> Method:
    """Add ``method`` under ``method.name`` (a name taken by another method is refused)."""
    if not method.name or method.Config is None:
        raise ValueError(f"a method needs a name and a Config dataclass, got {method!r}")
    _registry()  # the built-in names are taken first
    if _METHODS.get(method.name, method) is not method:
        raise ValueError(f"a method named {method.name!r} is already registered")
    _METHODS[method.name] = method
    return method


def get(name: str) -> Method:
    if name not in _registry():
        from train.plugins import load_plugins

        load_plugins()  # a plug-in's method is registered when its package is first needed
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; registered methods: {sorted(_METHODS)}")
    return _METHODS[name]


def owner(field_name: str) -> Method | None:
    """The first registered method whose settings include ``field_name`` (methods that train on the
    same kind of data may share a setting's name and meaning: RA-DT's ``source`` is AD's)."""
    return next((m for m in _registry().values() if field_name in {f.name for f in m.settings()}), None)


def group_of(field_name: str) -> str | None:
    """The config group of a registered method's setting ``field_name`` (None: no method's)."""
    method = owner(field_name)
    return None if method is None else next(f.metadata.get("group") for f in method.settings() if f.name == field_name)


__all__ = ["METHODS", "Method", "register", "get", "owner", "group_of"]
