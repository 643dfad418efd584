"""The host devices a run trains on, the same for the command line and a script.

On CPU, XLA runs each element-wise fusion of a program on one thread; as many host devices as cores
let the data-parallel training step keep every core busy. ``python -m train`` makes them itself; a
script calls :func:`use_every_core` before it imports JAX, and trains as fast as the command line::

    from train.devices import use_every_core
    use_every_core()
    from train import config_for, run_experiment   # imports JAX
    run_experiment(config_for("darkroom9-ad", seed=1), "darkroom9-ad-seed1")

The figures do not depend on it: a batch is drawn from keys that do not depend on the device count
(:mod:`icrl.training`), so one device and N give the same results, at different speeds.
"""

from __future__ import annotations

import os
import sys

#: At most this many CPU host devices are made from the cores (:func:`use_every_core`).
MAX_HOST_DEVICES = 8


def use_every_core() -> int:
    """Make as many CPU host devices as cores (a power of two, at most :data:`MAX_HOST_DEVICES`, so that
    batches split evenly: 1.07x the bandit-dpt step on 2 cores, ``benchmarks/main_job.py``), unless the
    user has chosen a device count in ``XLA_FLAGS``; returns the count asked for (0: left as it was). It
    changes nothing on a GPU or TPU, whose devices JAX uses instead. Too late once JAX has started its
    backends: then a ``RuntimeWarning`` says so and nothing changes."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return 0
    bridge = getattr(getattr(sys.modules.get("jax"), "_src", None), "xla_bridge", None)
    if bridge is not None and getattr(bridge, "backends_are_initialized", lambda: False)():
        import warnings

        warnings.warn("use_every_core() after JAX started its backends changes nothing: call it before any JAX work",
                      RuntimeWarning, stacklevel=2)
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    count = 1
    while count * 2 <= min(cores, MAX_HOST_DEVICES):
        count *= 2
    if count > 1:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    return count if count > 1 else 0


__all__ = ["MAX_HOST_DEVICES", "use_every_core"]
