"""``python -m train NAME [--scale paper] [--field value ...]``: run a named experiment.

Several processes or hosts (JAX's distributed runtime): add ``--distributed auto``
under a cluster launcher (SLURM, a TPU pod's per-host launch), or
``--coordinator HOST:PORT --num-processes N --process-id I``; on one machine
``python -m train.launch -n N NAME ...`` starts the N processes.
"""

from __future__ import annotations

import argparse
import sys

NAMES_HELP = "usage: python -m train NAME [--scale paper] [--distributed auto] [--options]"


def _distributed(argv: list[str]) -> list[str]:
    """Join JAX's distributed runtime if asked to (before anything touches a device); returns the other arguments."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--distributed", choices=["auto"], default=None)
    parser.add_argument("--coordinator", default=None)
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    known, rest = parser.parse_known_args(argv)
    explicit = (known.coordinator, known.num_processes, known.process_id)
    if known.distributed is None and all(x is None for x in explicit):
        return rest
    if known.distributed is None and any(x is None for x in explicit):
        raise SystemExit("error: give --coordinator, --num-processes and --process-id together (or --distributed auto)")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # collectives across CPU processes
    if known.distributed == "auto":
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(known.coordinator, num_processes=known.num_processes, process_id=known.process_id)
    return rest


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        from train import EXPERIMENTS

        print(f"{NAMES_HELP}; NAME is one of {sorted(EXPERIMENTS) + ['baselines']}")
        return
    name, rest = argv[0], _distributed(argv[1:])
    from icrl.checkpoints import NonFiniteError
    from icrl.training import RunLockedError
    from train import EXPERIMENTS, BaselinesConfig, ExperimentConfig, config_for, run_baselines, run_experiment
    from train.cli import add_config_arguments, config_from_args

    names = sorted(EXPERIMENTS) + ["baselines"]
    if name not in names:
        raise SystemExit(f"unknown experiment {name!r}; valid names: {names}")
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
    except (ValueError, FileNotFoundError, NonFiniteError, RunLockedError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
