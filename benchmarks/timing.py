"""Side-by-side step timing shared by the benchmark scripts."""

from __future__ import annotations

import time

import jax


def interleaved_step_seconds(runs: dict, rounds: int, steps: int = 5) -> dict[str, float]:
    """Best seconds per training step of each ``name -> (trainer, data)``, measured in turns over
    ``rounds`` rounds of ``steps`` steps (a first round compiles), so load on a shared machine
    falls on every entry alike. A pooled objective's refreshes between steps count (as in training)."""
    states = {name: trainer.init_state() for name, (trainer, _) in runs.items()}
    datas = {name: data for name, (_, data) in runs.items()}
    taken = dict.fromkeys(runs, 0)  # steps taken, counted on the host (reading state.step would wait for the step)
    best = {name: float("inf") for name in runs}
    for _ in range(rounds + 1):
        for name, (trainer, _) in runs.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                states[name], loss = trainer.step(states[name], datas[name])
                taken[name] += 1
                datas[name] = trainer.advance_data(datas[name], taken[name])
            jax.block_until_ready((loss, datas[name]))  # a loss, or a dict of figures (a PPO update's)
            best[name] = min(best[name], (time.perf_counter() - t0) / steps)
    return best
