"""``python -m train NAME [--scale paper] [--field value ...]``: run a named experiment.

Several processes or hosts (JAX's distributed runtime): add ``--distributed auto``
under a cluster launcher (SLURM, a TPU pod's per-host launch), or
``--coordinator HOST:PORT --num-processes N --process-id I``; on one machine
``python -m train.launch -n N NAME ...`` starts the N processes.
"""

from __future__ import annotations

import argparse
import sys

from train.devices import use_every_core


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
        use_every_core()
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
    from train.catalog import listing  # no JAX: listing is instant
    from train.plugins import PluginError
    from train.presets import COMMANDS, descriptions, every

    try:
        if not argv or argv[0] in ("-h", "--help", "list"):
            print(listing())
            return
        name, rest = argv[0], argv[1:]
        devices_set = False
        if name not in COMMANDS and name not in every(plugins=False):
            # a plug-in's preset: the devices are set up before a plug-in's import can start JAX's backend
            rest, devices_set = _distributed(rest), True
            if name not in descriptions():
                raise SystemExit(f"error: unknown experiment {name!r}; valid names: {sorted(descriptions())} (python -m train list)")
    except PluginError as err:
        raise SystemExit(f"error: {err}") from None
    if not devices_set:
        rest = _distributed(rest)
    from icrl.checkpoints import NonFiniteError
    from icrl.runlock import RunLockedError

    try:
        if name == "eval":
            _evaluate(rest)
        elif name == "compare":
            _compare(rest)
        elif name == "baselines":
            _baselines(rest)
        else:
            _experiment(name, descriptions()[name], rest)
    except (ValueError, FileNotFoundError, OSError, NonFiniteError, RunLockedError, PluginError) as err:
        raise SystemExit(f"error: {err}") from None


def _baselines(rest: list[str]) -> None:
    from train import BaselinesConfig, run_baselines
    from train.cli import Parser, add_config_arguments, config_from_args

    parser = Parser(prog="python -m train baselines", usage="python -m train baselines [--option VALUE ...]", description="The classic algorithms on every environment's held-out tasks.")
    add_config_arguments(parser, BaselinesConfig)
    run_baselines(config_from_args(BaselinesConfig, parser.parse_args(rest)))


def _experiment(name: str, description: str, rest: list[str]) -> None:
    from train import ExperimentConfig, config_for, run_experiment
    from train.cli import Parser, add_config_arguments, config_from_args
    from train.configs import applies

    pre = Parser(prog=f"python -m train {name}", add_help=False)
    pre.add_argument("--scale", default="cpu", choices=["cpu", "paper"])
    scale = pre.parse_known_args(rest)[0].scale
    defaults = config_for(name, scale)
    parser = Parser(prog=f"python -m train {name}", usage=f"python -m train {name} [--option VALUE ...]",
                    description=f"{description}. Every option below has the preset's "
                    f"value as its default; options of other kinds of experiment are accepted but not listed.")
    parser.add_argument("--run-name", default=name, help=f"the run's directory under --out-dir (default: {name}); another "
                        "name keeps a variant (other flags) apart from the preset's run")
    method = defaults.method_def
    # the preset fixes the method (--objective is not an option); its settings form their own section
    add_config_arguments(parser, ExperimentConfig, defaults=defaults, shown=lambda field: applies(field, defaults.objective, defaults.env),
                         skip=("objective", "method"))
    add_config_arguments(parser, method.Config, defaults=defaults.method, title=f"{method.label} (the method's own settings)")
    args, unknown = parser.parse_known_args(rest)
    _refuse_other_methods_flags(name, defaults.objective, unknown)
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    cfg = config_from_args(ExperimentConfig, args, objective=defaults.objective, method=config_from_args(method.Config, args))
    run_experiment(cfg, args.run_name)  # a bad run name is refused there, before any work


def _refuse_other_methods_flags(name: str, objective: str, unknown: list[str]) -> None:
    from train import methods

    for flag in (a.split("=")[0] for a in unknown if a.startswith("--")):
        if flag == "--objective":
            raise SystemExit(f"error: {name} trains method {objective!r}: the method is the preset's, not an option "
                             f"(python -m train list names a preset for each)")
        other = methods.owner(flag[2:].replace("-", "_"))
        if other is not None:
            raise SystemExit(f"error: {flag} is a setting of method {other.name!r}; {name} trains {objective!r} "
                             f"(python -m train {name} --help lists its settings)")


def _compare(rest: list[str]) -> None:
    from train.cli import Parser
    from train.compare import compare

    parser = Parser(prog="python -m train compare", description="Every method of a common benchmark (its presets "
                    "BENCHMARK-METHOD) over training seeds: one table of return as a fraction of optimal and one figure.")
    from train.presets import BENCHMARK_NAMES

    parser.add_argument("benchmark", metavar="BENCHMARK", help=" | ".join(BENCHMARK_NAMES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument("--out-dir", default="runs/compare", help="where the runs are (NAME-seedK) and the table goes")
    parser.add_argument("--presets", nargs="+", default=None, help="only these presets (default: all of the benchmark)")
    parser.add_argument("--train", action="store_true", help="train the runs that are missing (each preset x seed)")
    args = parser.parse_args(rest)
    md, png = compare(args.benchmark, tuple(args.seeds), args.out_dir, args.train, args.presets)
    print(f"table: {md}\nfigure: {png}")


def _evaluate(rest: list[str]) -> None:
    from train.cli import Parser
    from train.experiments import evaluate_run

    parser = Parser(prog="python -m train eval", description="Evaluate a saved run again on held-out (or training-split) "
                    "tasks, without training; writes RUN_DIR/results_eval[_SPLIT][_ood].json and a plot.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory, e.g. runs/bandit-dpt")
    parser.add_argument("--eval-split", choices=["test", "train"], default=None, help="test (held-out tasks) | train (default: the run's)")
    parser.add_argument("--eval-tasks", type=int, default=None, help="evaluation rollouts (default: the run's)")
    parser.add_argument("--eval-pool-sample", type=int, default=None, help="grid worlds: evaluate on this many tasks of the "
                        "split's pool, drawn once per seed; 0: every task (default: the run's)")
    parser.add_argument("--eval-episodes", type=int, default=None, help="episodes per task, in one context (default: the run's)")
    parser.add_argument("--eval-horizon", type=int, default=None, help="out of distribution: another horizon (default: the run's)")
    parser.add_argument("--baselines", nargs="*", default=None, help="agents evaluated beside the model (default: the run's)")
    parser.add_argument("--deploy-window", type=int, default=None, help="act on windows of whole episodes: a context (key-value "
                        "cache or recurrent state) that has seen between N/2 and N episodes; 0: one context over everything "
                        "(default: the run's)")
    from train import methods

    for method in methods.METHODS.values():  # deployment settings of a method (its runs alone accept them)
        for field in method.settings():
            if field.metadata.get("group") == "eval":
                many = isinstance(field.default, tuple)
                parser.add_argument("--" + field.name.replace("_", "-"), type=type(field.default[0] if many else field.default),
                                    nargs="+" if many else None, default=None,
                                    help=f"{method.label}: {field.metadata.get('help', '')} (default: the run's)")
    args = vars(parser.parse_args(rest))
    run_dir = args.pop("run_dir")
    evaluate_run(run_dir, **{k: (tuple(v) if isinstance(v, list) else v) for k, v in args.items() if v is not None})


if __name__ == "__main__":
    main()
