"""RA-DT's named experiments, each with its one-line description (``python -m train list``). Its controls, AD with
the same window and AD with as many tokens, are AD's presets (``darkroom9-ad-short``, ``darkroom9-ad-matched``, ...)."""

from __future__ import annotations

from train.presets import register
from train.rooms import CPU_MICROBATCHES, HISTORIES20, ROOM9, ROOM20

# darkroom9: a one-episode window behind 4 retrieved values of 2 x 10 steps (100 tokens, half of AD's 200), on PSRL's
# histories as AD
RADT9 = dict(objective="radt", source="psrl", num_train_tasks=20_000, history_episodes=20, context_episodes=1, train_steps=1500,
             batch_size=32, microbatches=CPU_MICROBATCHES)
# darkroom20: a window of 100 steps behind 4 values of 2 x 10 steps, 180 tokens (under a quarter of full-context AD's 800),
# on the same PSRL histories of 4 episodes
RADT20 = dict(ROOM20, **HISTORIES20, objective="radt", context_episodes=1, window_steps=100, batch_size=32)

register("darkroom9-radt", "RA-DT: a one-episode window and chunks of earlier episodes retrieved from memory, Dark Room 9x9",
         dict(ROOM9, **RADT9))
register("darkroom9-radt-random", "darkroom9-radt retrieving chunks at random (the ablation)",
         dict(ROOM9, **RADT9, retrieval="random"))
register("darkroom20-radt", "RA-DT with a 100-step window behind retrieved chunks (180 tokens), Dark Room 20x20", RADT20)
register("darkroom20-radt-random", "darkroom20-radt retrieving chunks at random (the ablation)", dict(RADT20, retrieval="random"))
