"""Settings that the presets of several methods share: the environments they run on, at CPU and paper
scale, and the common benchmark's rooms. Plain dicts of config fields (no JAX): each method's
``presets.py`` builds its named experiments from them.
"""

from __future__ import annotations

# Each step's batch forward and backward in 4 parts, gradients accumulated (the same step to float rounding): on CPU
# the parts' activations stay in cache, 1.40x / 1.31x / 1.32x the steps/s of one piece at bandit-dpt / darkroom-dpt /
# darkroom-ad (measured interleaved; docs/performance.md). Paper scale (meant for a GPU) keeps one piece.
CPU_MICROBATCHES = 4

# Half the contexts Dirichlet-random, half Thompson sampling: the model then also sees contexts like the
# ones it makes itself online (the one mixture tried; docs/RESULTS.md).
BANDIT = dict(objective="dpt", env="bernoulli-bandit", num_arms=5, horizon=100, num_train_tasks=20_000, train_steps=600,
              collector="dirichlet:0.5,thompson:0.5")
PAPER_BANDIT = dict(horizon=500, num_train_tasks=100_000, train_steps=50_000, num_layers=4, num_heads=4, width=128, dropout=0.1)
# Grid worlds: 7x7 rooms with 49-step episodes (as many steps as cells, the DPT paper's ratio: 10x10, 100).
ROOM = dict(env="darkroom", size=7, horizon=49, eval_tasks=200)
PAPER_ROOM = dict(size=10, horizon=100, train_steps=50_000, batch_size=128, width=128, num_layers=4, num_heads=4)
KEYDOOR = dict(env="keydoor", size=5, horizon=25, eval_tasks=200)
PAPER_KEYDOOR = dict(size=9, horizon=50, train_steps=50_000, batch_size=128, width=128, num_layers=4, num_heads=4)

# The common grid-world benchmark of the AD, ICEE and DICP papers: Dark Room 9x9, 20-step episodes from the centre, reward 1
# per step on the goal (81 goals: 65 train, 16 held out); Dark Key-to-Door 9x9, 50-step episodes. Every method is evaluated
# for 40 episodes in context on every held-out task (10 copies of each, own keys), beside the same baselines on the same
# tasks and keys; python -m train compare darkroom9 puts them in one table. Sizes are first settings, to be measured.
ROOM9 = dict(env="darkroom", size=9, horizon=20, eval_tasks=160, eval_episodes=40,
             baselines=("random", "q-learning", "psrl", "oracle"))
KEYDOOR9 = dict(env="keydoor", size=9, horizon=50, eval_tasks=160, eval_episodes=40,
                baselines=("random", "q-learning", "psrl", "oracle"))
#: The benchmark's rooms by name, with the episodes a model sees at once there (AD's window; DPT's contexts,
#: meta-RL's trials and ICEE's windows span as many): 10 episodes of 20 steps, 4 of 50.
BENCHMARK_ROOMS = {"darkroom9": (ROOM9, 10), "keydoor9": (KEYDOOR9, 4)}
# A room whose episodes outgrow a short window: Dark Room 20x20, 400-step episodes (as many steps as cells, DPT's ratio),
# evaluated for 20 episodes on the 80 held-out goals.
ROOM20 = dict(env="darkroom", size=20, horizon=400, eval_tasks=80, eval_episodes=20,
              baselines=("random", "q-learning", "psrl", "oracle"))
# PSRL's 4-episode histories of 5,000 training tasks: the data of every darkroom20 preset
HISTORIES20 = dict(source="psrl", num_train_tasks=5000, history_episodes=4, train_steps=1500, microbatches=CPU_MICROBATCHES)
# Bayesian optimisation in context (ICEE's second setting, docs/icee.md#bayesian-optimisation): functions on a 32 x 32 grid
# drawn from a Matérn-5/2 Gaussian process, each query an episode of its own, 50 queries of one function in context; GP
# expected improvement under the tasks' own prior and random search run on the same held-out functions.
BAYESOPT = dict(env="bayesopt", size=32, horizon=1, eval_tasks=1000, eval_episodes=50, baselines=("random", "gp-ei"))
# AD's data on the benchmark (PSRL's histories, windows of 10 episodes from any step of 20-episode histories); DICP on
# keydoor9 also trains on it
AD9 = dict(objective="ad", source="psrl", num_train_tasks=20_000, history_episodes=20, context_episodes=10, window_starts="step",
           train_steps=1500, batch_size=32, microbatches=CPU_MICROBATCHES)
KEYDOOR9_AD = dict(AD9, context_episodes=4, history_episodes=12)  # 4 x 50 steps a window
AD_BY_ROOM = {"darkroom9": AD9, "keydoor9": KEYDOOR9_AD}
