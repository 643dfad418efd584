"""What the plug-in brings, registered when icrl loads it (the ``icrl.plugins`` entry point of this
package's pyproject.toml): the ``corridor`` environment, the ``smooth-dpt`` method and two presets."""

from __future__ import annotations

import envs
from icrl_example.corridor import DarkCorridor
from icrl_example.smooth_dpt import SmoothDPT
from train import methods, presets

envs.register("corridor", DarkCorridor)
methods.register(SmoothDPT())

# DPT on the corridor as on Dark Room (darkroom-dpt): contexts of four episodes of posterior sampling (PSRL), each
# position labelled with PSRL's own next action; deployed for four episodes on the held-out goals beside a random
# walker, PSRL and the oracle
_CORRIDOR = dict(env="corridor", size=9, horizon=12, collector="psrl", labels="collector", context_episodes=4,
                 num_train_tasks=2000, train_steps=300, batch_size=32, width=32, num_layers=2, eval_tasks=60,
                 eval_episodes=4, baselines=("random", "psrl", "oracle"))
presets.register("corridor-dpt", "DPT on the dark corridor (a plug-in's environment)", dict(objective="dpt", **_CORRIDOR))
presets.register("corridor-smooth-dpt", "DPT with label smoothing on the dark corridor (a plug-in's method)",
                 dict(objective="smooth-dpt", smoothing=0.1, **_CORRIDOR), paper=dict(train_steps=3000))
