"""``python -m train NAME [--scale paper] [--field value ...]``: run a named experiment."""

from __future__ import annotations

import argparse
import sys

from train.cli import add_config_arguments, config_from_args
from train import EXPERIMENTS, BaselinesConfig, ExperimentConfig, config_for, run_baselines, run_experiment

NAMES = sorted(EXPERIMENTS) + ["baselines"]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m train NAME [--scale paper] [--options]; NAME is one of {NAMES}")
        return
    name, rest = argv[0], argv[1:]
    if name not in NAMES:
        raise SystemExit(f"unknown experiment {name!r}; valid names: {NAMES}")
    if name == "baselines":
        parser = argparse.ArgumentParser(prog=f"python -m train {name}")
        add_config_arguments(parser, BaselinesConfig)
        run_baselines(config_from_args(BaselinesConfig, parser.parse_args(rest)))
        return
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--scale", default="cpu", choices=["cpu", "paper"])
    scale = pre.parse_known_args(rest)[0].scale
    parser = argparse.ArgumentParser(prog=f"python -m train {name}")
    add_config_arguments(parser, ExperimentConfig, defaults=config_for(name, scale))
    cfg = config_from_args(ExperimentConfig, parser.parse_args(rest))
    try:
        run_experiment(cfg, name)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
