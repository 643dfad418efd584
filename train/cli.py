"""Command lines generated from frozen config dataclasses (nested ones flattened into one flag set)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any


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


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, defaults: Any = None) -> None:
    """One ``--field-name`` option per leaf field, typed like the field; defaults from the
    instance ``defaults`` when given, else from the class. Leaf names must be unique."""
    defaults = config_cls() if defaults is None else defaults
    seen: dict[str, tuple] = {}
    for path, field, kind in flat_fields(config_cls):
        if field.name in seen:
            raise TypeError(f"{config_cls.__name__}: field {field.name!r} appears at {seen[field.name]} and {path}")
        seen[field.name] = path
        flag = "--" + field.name.replace("_", "-")
        default = _get(defaults, path)
        help_text = field.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(kind) in (tuple, list):
            item = typing.get_args(kind)[0]
            parser.add_argument(flag, type=item, nargs="*", default=default, metavar=field.name.upper(), help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=default, help=f"{help_text} (default: {default})".strip())


def config_from_args(config_cls: type, args: argparse.Namespace) -> Any:
    """The config (nested configs included) that parsed ``args`` describe."""
    hints = typing.get_type_hints(config_cls)
    values = {}
    for field in dataclasses.fields(config_cls):
        kind = hints[field.name]
        if _is_config(kind):
            values[field.name] = config_from_args(kind, args)
        else:
            value = getattr(args, field.name)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return config_cls(**values)
