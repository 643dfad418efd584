"""Plug-ins: packages that add methods, presets and environments from outside icrl.

A plug-in is an installed package that names a module in the ``icrl.plugins`` entry-point
group of its own ``pyproject.toml``::

    [project.entry-points."icrl.plugins"]
    smooth-dpt = "smooth_dpt.plugin"

Importing that module registers what it brings, through the same calls the built-in parts
use: :func:`train.methods.register` (a method), :func:`train.presets.register` (a named
experiment) and :func:`envs.register` (an environment). Plug-ins are loaded once, the first
time a name is looked up that the built-in parts do not have (``python -m train list``,
an unknown method, preset or environment), so a run of a built-in preset never imports one.
"""

from __future__ import annotations

from importlib.metadata import entry_points

GROUP = "icrl.plugins"
_loaded: list[str] | None = None


class PluginError(ValueError):
    """A plug-in could not be loaded: the message names its entry point and the error."""


def load_plugins() -> list[str]:
    """Import every installed plug-in (once); returns the entry points' names. A plug-in whose
    import fails raises :class:`PluginError` naming it, rather than leaving a name unknown."""
    global _loaded
    if _loaded is None:
        _loaded = []
        for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
            try:
                point.load()
            except Exception as err:  # a broken plug-in is named, whatever it raised
                raise PluginError(f"plug-in {point.name!r} ({point.value}, entry point group {GROUP!r}) failed to load: "
                                  f"{type(err).__name__}: {err}") from err
            _loaded.append(point.name)
    return list(_loaded)


__all__ = ["GROUP", "PluginError", "load_plugins"]
