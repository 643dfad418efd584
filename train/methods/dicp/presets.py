"""DICP's named experiments, each with its one-line description (``python -m train list``)."""

from __future__ import annotations

from train.presets import register
from train.rooms import AD9, CPU_MICROBATCHES, KEYDOOR9, ROOM9

# DICP on the Q-learning histories of ad-qlearning (the same data, windows and steps: Q-learning leaves headroom, PSRL none),
# planning as deep as the room's diameter (Dark Room) or twice it (key, then door), as its paper; deployed with planning off
# and with beams of several widths from the same model
DICP9 = dict(objective="dicp", source="q-learning", history_episodes=60, episode_stride=4, context_episodes=4,
             num_train_tasks=2000, train_steps=1500, batch_size=32, microbatches=CPU_MICROBATCHES)

# darkroom9: the paper's beams of 10 and the widths' ablation; beams of 40 (the method's own agent) were added after
# seed 0's held-out returns grew with the width past 10 (episode 5: 0.41 / 0.44 / 0.49 with beams of 10 / 20 / 40).
# The next cell comes from a head of its own (an MLP) that its loss trains alone: through the shared layers that loss
# cost the action head on new goals. Chosen on another fold of the goals (--split-seed 1, seed 0, fraction of optimal
# at episodes 10 / 40; docs/dicp.md): planning off 0.20 / 0.14 with the paper's shared layers, AD 0.28 / 0.30
# (without the next-state loss 0.34 / 0.33, without the reward loss 0.23 / 0.17), 0.35 / 0.35 detached; beams of 40
# 0.55 / 0.66 shared, 0.60 / 0.65 detached (episode 5: 0.38 against 0.46)
register("darkroom9-dicp", "DICP: AD on Q-learning's histories plus reward and next-state heads, planning by beam search, Dark Room 9x9",
         dict(ROOM9, **DICP9, plan_depth=8, beam_widths=(0, 1, 4, 10, 40), detach_next_state=True))
# the widths' ablation on darkroom9 only; planning 16 steps deep on every one of the 1,296 held-out (key, goal) pairs
# would take one to two hours per seed on two cores, so 160 of them, drawn per seed (AD's runs evaluate again on the
# same sample: python -m train eval RUN_DIR --eval-pool-sample 160)
register("keydoor9-dicp", "DICP on Key-to-Door 9x9 (Q-learning's histories, plans 16 steps deep; 160 held-out pairs per seed)",
         dict(KEYDOOR9, **DICP9, plan_depth=16, beam_widths=(0, 10), eval_pool_sample=160))
# Q-learning's 60-episode keydoor9 histories hold almost no reward, so neither AD nor DICP learns from them; AD on
# PSRL's histories does (0.76 of optimal at episode 40) and leaves headroom below PSRL: DICP on keydoor9-ad's data
register("keydoor9-dicp-psrl", "DICP on keydoor9-ad's data (PSRL's histories), plans 16 steps deep; 160 held-out pairs per seed",
         dict(KEYDOOR9, **{**DICP9, "source": "psrl", "history_episodes": 12, "episode_stride": 1,
                           "num_train_tasks": AD9["num_train_tasks"]}, plan_depth=16, beam_widths=(0, 10), eval_pool_sample=160))
