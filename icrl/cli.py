"""Command lines generated from frozen config dataclasses."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, defaults: Any = None) -> None:
    """One ``--field-name`` option per dataclass field, typed like the field; defaults
    from the instance ``defaults`` when given, else from the class."""
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        kind = hints[field.name]
        flag = "--" + field.name.replace("_", "-")
        if defaults is not None:
            default = getattr(defaults, field.name)
        else:
            default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif typing.get_origin(kind) in (tuple, list):
            item = typing.get_args(kind)[0]
            parser.add_argument(flag, type=item, nargs="+", default=default, metavar=field.name.upper())
        else:
            parser.add_argument(flag, type=kind, default=default, help=f"(default: {default})")


def config_from_args(config_cls: type, args: argparse.Namespace) -> Any:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_cls)}
    for f in dataclasses.fields(config_cls):
        if isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    return config_cls(**values)
