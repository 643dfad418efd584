"""DPT's named experiments, each with its one-line description (``python -m train list``)."""

from __future__ import annotations

from train.presets import register
from train.rooms import (BANDIT, BENCHMARK_ROOMS, CPU_MICROBATCHES, KEYDOOR, PAPER_BANDIT, PAPER_KEYDOOR, PAPER_ROOM,
                         ROOM)

# Streamed (fresh training tasks and contexts inside every step): as good at equal steps as a fixed dataset, within
# a few percent of it end to end (benchmarks/stream.py: 0.93-0.99x the steps/s, no dataset to make; docs/streams.md).
# 1,500 steps of a 2-layer model behind an MLP token embedding, learning rate 2e-3, chosen on training-split tasks by
# benchmarks/main_job.py (3 seeds side by side, 4,000 tasks each): regret / Thompson 1.023 (1.033 / 1.010 / 1.025)
# in 1.5-1.7x the training time of the earlier 600 steps of 3 layers (1.045: 1.018 / 1.063 / 1.054); 1,200 steps of
# 3 layers 1.031 in 2.0x, 1,500 of 2 layers with a linear embedding 1.028 in 1.45x. Rotary positions rather than
# ALiBi, whose recency bias a bandit's posterior (every pull counts alike) has to unlearn: seeds 0 / 1 1.034 / 1.071
# -> 1.022 / 1.061 of Thompson's regret, 0.92x the time a step.
# Evaluated on 4,000 tasks: on 1,000 the 95% interval of either regret is +-0.25, 3% of it, as wide as the gap measured.
register("bandit-dpt", "the main job: DPT on 5-arm Bernoulli bandits, streamed contexts, against UCB and Thompson",
         dict(BANDIT, train_steps=1500, num_layers=2, embedding="mlp", learning_rate=2e-3, data_source="stream",
              microbatches=CPU_MICROBATCHES, position_encoding="rotary", eval_tasks=4000),
         paper=dict(PAPER_BANDIT, learning_rate=1e-3, microbatches=1, embedding="linear"))
register("bandit-dpt-s5", "bandit-dpt with the S5 backbone, from a fixed dataset",
         dict(BANDIT, backbone="s5", train_steps=5400, microbatches=8), paper=dict(PAPER_BANDIT, microbatches=1))
register("linear-bandit-dpt", "DPT on a 10-arm linear bandit (d = 2), against LinUCB and linear Thompson",
         dict(objective="dpt", env="linear-bandit", num_arms=10, dim=2, horizon=100, train_steps=800,
              collector="dirichlet:0.5,lin-thompson:0.5", baselines=("random", "linucb", "lin-thompson")),
         paper=dict(horizon=200, num_train_tasks=100_000, train_steps=50_000, width=128, num_layers=4, num_heads=4))
# DPT's label drawn from the posterior once per episode (PSRL's actions): the deployed model commits to a
# hypothesis for an episode as PSRL does. With the paper's label (darkroom-dpt-paper) even the exact Bayes
# policy dithers (benchmarks/darkroom_dpt.py).
register("darkroom-dpt", "DPT on Dark Room 7x7, labels drawn as PSRL draws them, streamed",
         dict(ROOM, objective="dpt", collector="psrl", labels="collector", num_train_tasks=20_000, context_episodes=4,
              train_steps=1200, batch_size=32, eval_episodes=4, baselines=("random", "q-learning", "psrl", "posterior"),
              data_source="stream", microbatches=CPU_MICROBATCHES),  # streamed, as bandit-dpt
         paper=dict(PAPER_ROOM, num_train_tasks=100_000, microbatches=1))
# The DPT paper's label (the true goal's optimal action at uniform query states), contexts of whole episodes
# from a random walker and PSRL, deployed both ways; posterior / posterior-episode are its Bayes ceilings.
register("darkroom-dpt-paper", "DPT on Dark Room 7x7 with the paper's label and its episode-frozen deployment",
         dict(ROOM, objective="dpt", collector="dirichlet:0.5,psrl:0.5", labels="optimal", num_train_tasks=20_000,
              context_episodes=4, train_steps=1200, batch_size=32, eval_episodes=4, deploy_context=("step", "episode"),
              baselines=("random", "psrl", "posterior", "posterior-episode")),
         paper=dict(PAPER_ROOM, num_train_tasks=100_000))
register("keydoor-dpt", "DPT on Dark Key-to-Door 5x5, PSRL labels",
         dict(KEYDOOR, objective="dpt", collector="psrl", labels="collector", num_train_tasks=20_000, context_episodes=4,
              train_steps=1200, batch_size=32, eval_episodes=4, baselines=("random", "q-learning", "psrl", "posterior")),
         paper=dict(PAPER_KEYDOOR, num_train_tasks=100_000))
# the common benchmark: contexts of PSRL episodes, labels drawn as PSRL draws them (as darkroom-dpt), streamed; a context
# spans as many episodes as AD's windows. Deployed on windows of whole episodes (deploy_window: two caches restarted in
# turn every context's worth of episodes, the older acting), as its training contexts begin at an episode's first step;
# chosen on training-split goals (benchmarks/deploy_window.py; docs/methods.md#deployed-past-the-training-context): the mean
# fraction of optimal over the episodes past the context, darkroom9 seeds 0-2 0.96 / 0.91 / 0.72 with the window sliding
# step by step, 0.98 / 0.98 / 0.98 on whole episodes; keydoor9 0.50 / 0.74 / 0.40 -> 0.83 / 0.88 / 0.76.
for _room, (_settings, _episodes) in BENCHMARK_ROOMS.items():
    register(f"{_room}-dpt", "DPT with PSRL labels, streamed, deployed on windows of whole episodes",
             dict(_settings, objective="dpt", collector="psrl", labels="collector", num_train_tasks=20_000, train_steps=1200,
                  batch_size=32, data_source="stream", microbatches=CPU_MICROBATCHES, context_episodes=_episodes,
                  deploy_window=_episodes))
