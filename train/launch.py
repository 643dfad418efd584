"""Run an experiment as several processes on this machine: ``python -m train.launch -n 2 NAME [--options]``.

Each process joins JAX's distributed runtime (``jax.distributed``) through a local
coordinator, sees the devices of all processes as one mesh, holds its share of the
data and trains on its share of every batch; process 0 writes metrics, results and
plots. On CPU each process gets one device (``--devices-per-process`` to change it)
and cross-process collectives go through gloo. Under a cluster launcher, start
``python -m train NAME --distributed auto`` once per host instead (SLURM and TPU
pods are detected by ``jax.distributed.initialize``), or give ``--coordinator``,
``--num-processes`` and ``--process-id`` explicitly.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.launch", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--num-processes", type=int, required=True)
    parser.add_argument("--devices-per-process", type=int, default=1, help="CPU devices per process")
    parser.add_argument("experiment", nargs=argparse.REMAINDER, help="NAME [--options] as for python -m train")
    args = parser.parse_args(argv)
    if args.num_processes < 1 or not args.experiment:
        parser.error("give a number of processes >= 1 and an experiment")
    coordinator = f"localhost:{free_port()}"
    env = dict(os.environ)
    if env.get("JAX_PLATFORMS", "cpu") == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
        flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
        env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={args.devices_per_process}"])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "train", *args.experiment, "--coordinator", coordinator,
             "--num-processes", str(args.num_processes), "--process-id", str(i)],
            env=env,
        )
        for i in range(args.num_processes)
    ]
    codes = [p.wait() for p in procs]
    return max(codes, key=abs)


if __name__ == "__main__":
    sys.exit(main())
