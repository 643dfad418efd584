"""``python -m train NAME [--field value ...]``: run a named experiment."""

from __future__ import annotations

import argparse
import sys

from icrl.cli import add_config_arguments, config_from_args
from train import EXPERIMENTS


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m train NAME [--options]; NAME is one of {sorted(EXPERIMENTS)}")
        return
    name, rest = argv[0], argv[1:]
    if name not in EXPERIMENTS:
        raise SystemExit(f"unknown experiment {name!r}; valid names: {sorted(EXPERIMENTS)}")
    config_cls, run = EXPERIMENTS[name]
    parser = argparse.ArgumentParser(prog=f"python -m train {name}")
    add_config_arguments(parser, config_cls)
    run(config_from_args(config_cls, parser.parse_args(rest)))


if __name__ == "__main__":
    main()
