"""ICEE's named experiments, each with its one-line description (``python -m train list``)."""

from __future__ import annotations

from train.presets import register
from train.rooms import BAYESOPT, BENCHMARK_ROOMS, CPU_MICROBATCHES, KEYDOOR9, ROOM9

# ICEE: 12 episodes of the epsilon-greedy oracle per task (epsilon per episode from [0, 1]), windows of 10 as AD's
ICEE9 = dict(objective="icee", num_train_tasks=20_000, icee_episodes=12, context_episodes=10, train_steps=1500, batch_size=32,
             microbatches=CPU_MICROBATCHES)
# the paper's baselines on the same data and steps: AD on the episodes sorted by decreasing epsilon, ICEE without weights
AD_SORTED9 = dict(ICEE9, conditioned=False, unbiased=False, sort_by_epsilon=True)
# ICEE with the unbiasing weights: half the loss's weight on the acting episode's positions (chosen on darkroom9's training
# goals, seed 0, fraction of optimal at episode 10: 0.33 against 0.07 with every position weighted; docs/icee.md)
ICEE9_WEIGHTED = dict(ICEE9, acting_share=0.5)
# Dark Room's ICEE data: each task's episodes in order of decreasing epsilon (AD-sorted's data), the acting episode drawn
# anywhere in the window. In drawn order three tasks in four find the goal in their first episode, so a window almost
# never shows the failed episodes a deployed agent starts with. Chosen on darkroom9's training goals (seed 0, fraction of
# optimal at episodes 10 / 40): 0.42 / 0.68 against 0.33 / 0.40 in drawn order (docs/icee.md).
# keydoor9's ICEE keeps each task's episodes in drawn order: sorted, acting anywhere, did worse there
# (keydoor9-icee-time, seed 0, training pairs, fraction of optimal at episodes 10 / 40: 0.26 / 0.21 against 0.35 / 0.34)
ICEE9_SORTED = dict(sort_by_epsilon=True, acting_episode="any")
ICEE_DATA = {"darkroom9": ICEE9_SORTED, "keydoor9": {}}
# Bayesian optimisation: 50 queries of the epsilon-greedy oracle per function, the acting query anywhere among them (as
# deployed: after 0 to 49 others)
ICEE_BO = dict(objective="icee", num_train_tasks=20_000, icee_episodes=50, context_episodes=50, acting_episode="any",
               train_steps=1500, batch_size=32, microbatches=CPU_MICROBATCHES)

# the common benchmark: windows as many episodes as AD's
for _room, (_settings, _episodes) in BENCHMARK_ROOMS.items():
    _data = ICEE_DATA[_room]
    register(f"{_room}-icee", "ICEE on epsilon-greedy oracle episodes",
             dict(_settings, **{**ICEE9_WEIGHTED, **_data, "context_episodes": _episodes}))
    register(f"{_room}-icee-noweights", "ICEE without the unbiasing weights",
             dict(_settings, **{**ICEE9, **_data, "context_episodes": _episodes}, unbiased=False))
    register(f"{_room}-ad-sorted", "AD on ICEE's data, episodes sorted by decreasing epsilon",
             dict(_settings, **{**AD_SORTED9, "context_episodes": _episodes}))
# ICEE's biased Dark Room: the data policy's random actions lean toward the low-numbered ones (q(a) ∝ 0.5**a), with and
# without the unbiasing weights (the same loss shares)
register("biasedroom9-icee", "ICEE on Dark Room 9x9 with a biased data policy",
         dict(ROOM9, **ICEE9_WEIGHTED, **ICEE9_SORTED, random_skew=0.5), benchmark="biasedroom9")
register("biasedroom9-icee-noweights", "biasedroom9-icee without the unbiasing weights",
         dict(ROOM9, **ICEE9_WEIGHTED, **ICEE9_SORTED, random_skew=0.5, unbiased=False), benchmark="biasedroom9")
register("bayesopt-icee", "ICEE doing Bayesian optimisation in context: 50 queries of a GP function on a 32x32 grid, against GP-EI",
         dict(BAYESOPT, **ICEE_BO))
register("bayesopt-icee-noweights", "bayesopt-icee without the unbiasing weights", dict(BAYESOPT, **ICEE_BO, unbiased=False))
# ICEE whose "no shortfall" also asks for the fewest steps (docs/icee.md): on keydoor9 a detour costs no return
register("keydoor9-icee-time", "keydoor9-icee whose no-shortfall condition also asks for the best return in the fewest steps",
         dict(KEYDOOR9, **{**ICEE9_WEIGHTED, "context_episodes": BENCHMARK_ROOMS["keydoor9"][1]}, time_shortfall=True))
