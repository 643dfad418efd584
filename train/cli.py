"""Command lines generated from frozen config dataclasses (nested ones flattened into one flag set)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Callable

#: Titles of the option groups in ``--help``, by a field's ``group`` metadata.
GROUP_TITLES = {"env": "environment", "data": "data", "objective": "objective", "model": "model",
                "train": "training", "eval": "evaluation", "output": "output", "options": "options"}


def _is_config(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def flat_fields(config_cls: type) -> list[tuple[tuple[str, ...], dataclasses.Field, Any]]:
    """Every leaf field of ``config_cls`` as ``(path, field, type)``; a field whose type is
    itself a config dataclass contributes its own fields (path ``("train", "seed")``)."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for field in dataclasses.fields(config_cls):
        kind = hints[field.name]
        if _is_config(kind):
            out += [((field.name,) + path, f, k) for path, f, k in flat_fields(kind)]
        else:
            out.append(((field.name,), field, kind))
    return out


def _get(config: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        config = getattr(config, name)
    return config


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the problem (and where to look), not a usage dump."""

    def error(self, message: str):
        raise SystemExit(f"error: {message} (see {self.prog} --help)")


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, defaults: Any = None,
                         shown: Callable[[str], bool] | None = None, skip: tuple[str, ...] = (),
                         title: str | None = None) -> None:
    """One ``--field-name`` option per leaf field, typed like the field; defaults from the
    instance ``defaults`` when given, else from the class. Leaf names must be unique. Options
    are grouped by their field's ``group`` metadata (a nested config's fields by the nested
    field's), or all under ``title`` when given; a field for which ``shown(name)`` is false
    still parses but is left out of ``--help``; top-level fields named in ``skip`` get no option."""
    defaults = config_cls() if defaults is None else defaults
    seen: dict[str, tuple] = {}
    groups: dict[str, Any] = {}
    top = {f.name: f for f in dataclasses.fields(config_cls)}
    for path, field, kind in flat_fields(config_cls):
        if path[0] in skip:
            continue
        if field.name in seen:
            raise TypeError(f"{config_cls.__name__}: field {field.name!r} appears at {seen[field.name]} and {path}")
        seen[field.name] = path
        group_name = title or top[path[0]].metadata.get("group") or field.metadata.get("group") or "options"
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(GROUP_TITLES.get(group_name, group_name))
        group = groups[group_name]
        flag = "--" + field.name.replace("_", "-")
        default = _get(defaults, path)
        help_text = field.metadata.get("help", "")
        if shown is not None and not shown(field.name):
            help_text = argparse.SUPPRESS
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(kind) in (tuple, list):
            item = typing.get_args(kind)[0]
            shown_help = help_text if help_text == argparse.SUPPRESS else f"{help_text} (default: {' '.join(map(str, default)) or 'none'})"
            group.add_argument(flag, type=item, nargs="*", default=default, metavar=field.name.upper(), help=shown_help)
        else:
            shown_help = help_text if help_text == argparse.SUPPRESS else f"{help_text} (default: {default})".strip()
            group.add_argument(flag, type=kind, default=default, help=shown_help)


def config_from_args(config_cls: type, args: argparse.Namespace, **given) -> Any:
    """The config (nested configs included) that parsed ``args`` describe; fields in ``given``
    (those :func:`add_config_arguments` skipped) take the values given."""
    hints = typing.get_type_hints(config_cls)
    values = dict(given)
    for field in dataclasses.fields(config_cls):
        if field.name in given:
            continue
        kind = hints[field.name]
        if _is_config(kind):
            values[field.name] = config_from_args(kind, args)
        else:
            value = getattr(args, field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return config_cls(**values)
