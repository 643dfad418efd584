"""AD's named experiments, each with its one-line description (``python -m train list``)."""

from __future__ import annotations

from train.presets import register
from train.rooms import (AD_BY_ROOM, AD9, BENCHMARK_ROOMS, CPU_MICROBATCHES, HISTORIES20, KEYDOOR, PAPER_KEYDOOR,
                         PAPER_ROOM, ROOM, ROOM9, ROOM20)

# AD distils PSRL's learning histories (posterior sampling over the room's cells): windows of 4 episodes
# beginning at any step of 12-episode histories, so the model runs 40 episodes in a sliding window.
ROOM_AD = dict(ROOM, objective="ad", source="psrl", num_train_tasks=20_000, history_episodes=12, context_episodes=4,
               window_starts="step", train_steps=1500, batch_size=32, eval_episodes=40, baselines=("random", "q-learning", "psrl"))
# The AD paper's kind of source, an RL algorithm learning from scratch: optimistic Q-learning (learning rate 1)
# reaches 0.95 of optimal by episode 30; windows of 4 episodes taken every 4th compress that climb.
ROOM_AD_Q = dict(ROOM_AD, source="q-learning", num_train_tasks=2000, history_episodes=60, episode_stride=4, window_starts="episode")
# AD + LHF on a noisy source (half the histories from a degraded PSRL acting at random with a probability up to 1), as
# docs/plugins.md's 7x7 comparison
NOISY = dict(noisy_fraction=0.5, noise_epsilon=1.0)
LHF9 = dict(NOISY, lhf=True, lhf_keep=0.75)

register("darkroom-ad", "Algorithm Distillation of PSRL's learning histories on Dark Room 7x7, 40 episodes in context",
         dict(ROOM_AD, microbatches=CPU_MICROBATCHES), paper=dict(PAPER_ROOM, num_train_tasks=20_000, microbatches=1))
register("darkroom-ad-qlearning", "AD of optimistic Q-learning's histories on Dark Room 7x7",
         ROOM_AD_Q, paper=dict(PAPER_ROOM, num_train_tasks=20_000, history_episodes=200))
# In 4 microbatches as darkroom-ad: its step 41 ms against 62 in one piece (51 at 2, 43 at 8; interleaved, idle:
# benchmarks/microbatches.py).
# Deployed on a state of between half and all of its training window (deploy_window), chosen on training-split goals
# (benchmarks/deploy_window.py): mean over episodes 5-40 0.98 / 0.83 / 0.93 (seeds 0-2) with one state over all 40 episodes,
# 1.00 / 1.00 / 1.00 windowed.
register("darkroom-ad-s5", "darkroom-ad with the S5 backbone, deployed on a state of 2 to 4 episodes",
         dict(ROOM_AD, backbone="s5", train_steps=4500, microbatches=CPU_MICROBATCHES, deploy_window=4),
         paper=dict(PAPER_ROOM, num_train_tasks=20_000, microbatches=1))
# Key-to-Door: tabular Q-learning reaches only 0.68 of optimal after 60 episodes on 5x5, too slow a climb to
# distil; PSRL (posterior over key and door) reaches 0.92 by episode 2, so AD distils PSRL's histories.
register("keydoor-ad", "AD of PSRL's histories on Dark Key-to-Door 5x5",
         dict(KEYDOOR, objective="ad", source="psrl", num_train_tasks=20_000, history_episodes=12, context_episodes=6,
              window_starts="step", train_steps=2400, batch_size=32, eval_episodes=20,
              baselines=("random", "q-learning", "psrl", "posterior")),
         paper=dict(PAPER_KEYDOOR, num_train_tasks=20_000))

# the common benchmark: AD on PSRL's histories and its variants, on the same tasks and keys as every other method
for _room, (_settings, _) in BENCHMARK_ROOMS.items():
    _ad = AD_BY_ROOM[_room]
    register(f"{_room}-ad", "AD of PSRL's histories", dict(_settings, **_ad))
    register(f"{_room}-ad-qlearning", "AD of Q-learning's histories",
             dict(_settings, **{**_ad, "source": "q-learning", "history_episodes": 60, "episode_stride": 4, "context_episodes": 4,
                                "window_starts": "episode", "num_train_tasks": 2000}))
    # deployed on a state of between half and all of its training window (deploy_window), chosen on training-split
    # goals: darkroom9 seed 1 0.93 of optimal at episode 40 with one state over everything, 0.99 windowed
    register(f"{_room}-ad-s5", "AD with the S5 backbone",
             dict(_settings, **{**_ad, "backbone": "s5", "train_steps": 4500}, deploy_window=_ad["context_episodes"]))
    register(f"{_room}-ad-t2mir", "AD with T2MIR mixture-of-experts layers", dict(_settings, **_ad, ffn="t2mir"))
    register(f"{_room}-ad-noisy", "AD on a noisy source (half the histories degraded)", dict(_settings, **_ad, **NOISY))
    register(f"{_room}-ad-lhf", "AD + learning-history filtering on the noisy source", dict(_settings, **_ad, **LHF9))
    # T2MIR on the mixed-quality data its paper targets, beside ad-noisy on the same histories
    register(f"{_room}-ad-t2mir-noisy", "AD with T2MIR layers on the noisy source", dict(_settings, **_ad, ffn="t2mir", **NOISY))

# RA-DT's controls (train/methods/radt/presets.py): AD with its one-episode window and no retrieval, and AD seeing as many
# tokens as RA-DT (its window and retrieved values, 20 + 4 x 20 = 100 steps: five episodes)
register("darkroom9-ad-short", "AD with darkroom9-radt's one-episode window and no retrieval",
         dict(ROOM9, **{**AD9, "context_episodes": 1}))
register("darkroom9-ad-matched", "AD with as many tokens as darkroom9-radt (its window and retrieved chunks: 5 episodes)",
         dict(ROOM9, **{**AD9, "context_episodes": 5}))
# darkroom20: full-context AD sees two whole episodes (800 tokens; batch 8 keeps darkroom9-ad's 6,400 labelled positions a
# step); beside RA-DT, AD with its 100-step window and nothing retrieved, and AD with as many tokens as RA-DT (180 steps)
register("darkroom20-ad", "AD with two whole 400-step episodes in context (800 tokens), Dark Room 20x20",
         dict(ROOM20, **HISTORIES20, objective="ad", context_episodes=2, window_starts="step", batch_size=8))
register("darkroom20-ad-short", "AD with darkroom20-radt's 100-step window and no retrieval",
         dict(ROOM20, **HISTORIES20, objective="ad", context_episodes=1, window_starts="step", window_steps=100, batch_size=32))
register("darkroom20-ad-matched", "AD with as many tokens as darkroom20-radt (its window and retrieved chunks: 180 steps)",
         dict(ROOM20, **HISTORIES20, objective="ad", context_episodes=1, window_starts="step", window_steps=180, batch_size=32))
