"""Meta-RL's named experiments, each with its one-line description (``python -m train list``)."""

from __future__ import annotations

from train.presets import register
from train.rooms import BENCHMARK_ROOMS, ROOM

# Meta-RL (RL2, the S5 paper's method): PPO on trials of one task with a recurrent policy whose state spans the trial and is
# reset between tasks; no dataset. 256 fresh trials per update.
# Undiscounted (gamma 1): regret and a trial's return are undiscounted sums (S5 on bandit-rl2: regret 9.05 at gamma 1
# after 600 updates, 11.35 at gamma 0.99 after 400, where gamma 1 was at 9.5).
RL2 = dict(objective="rl2", backbone="s5", num_layers=2, width=64, state_size=64, batch_size=256, learning_rate=1e-3, gamma=1.0)
# popjaxrl's settings: S5 4 x 256, lr 5e-5, 64 trials per update, 30 epochs of 8 minibatches, lambda 1, no entropy bonus
PAPER_RL2 = dict(num_layers=4, width=256, state_size=256, learning_rate=5e-5, batch_size=64, ppo_epochs=30, ppo_minibatches=8,
                 gamma=0.99, gae_lambda=1.0, entropy_coef=0.0, value_coef=1.0)
BANDIT_RL2 = dict(RL2, env="bernoulli-bandit", num_arms=5, horizon=100, context_episodes=1, train_steps=600)
ROOM_RL2 = dict(RL2, **ROOM, context_episodes=4, eval_episodes=4, train_steps=400, baselines=("random", "q-learning", "psrl"))

register("bandit-rl2-s5", "meta-RL: PPO with an S5 memory across trials of one bandit task, no dataset",
         BANDIT_RL2, paper=dict(PAPER_RL2, horizon=500, train_steps=2400))
register("bandit-rl2-gru", "bandit-rl2-s5 with a GRU policy",
         dict(BANDIT_RL2, backbone="gru"), paper=dict(PAPER_RL2, horizon=500, train_steps=2400))
register("darkroom-rl2-s5", "meta-RL: PPO with an S5 memory across 4 episodes of one Dark Room goal",
         ROOM_RL2, paper=dict(PAPER_RL2, size=10, horizon=100, train_steps=2400))
register("darkroom-rl2-gru", "darkroom-rl2-s5 with a GRU policy",
         dict(ROOM_RL2, backbone="gru"), paper=dict(PAPER_RL2, size=10, horizon=100, train_steps=2400))
# the common benchmark: a trial spans as many episodes as AD's windows
for _room, (_settings, _episodes) in BENCHMARK_ROOMS.items():
    register(f"{_room}-rl2-s5", "meta-RL with an S5 memory", {**_settings, **RL2, "train_steps": 400, "context_episodes": _episodes})

# POPGym's memory tasks (docs/popgym.md), one episode per trial, discounted as popjaxrl does; every family gets the same
# 3.3M environment steps (64 episodes per update), so S5 and the GRU compare at equal steps. S5 reaches 0.95 on
# repeat-previous easy after 2.4M of them (one seed, train_steps 1000).
POPGYM_BATCH = 64
POPGYM_STEPS = POPGYM_BATCH * 51 * 1000
POPGYM_HORIZONS = {"repeat-first": 51, "repeat-previous": 51, "autoencode": 103, "count-recall": 51, "higher-lower": 51,
                   "bandit": 200}
POPGYM_PAPER = 15_000_000  # popjaxrl's steps (its projected CartPole's too)
for _family, _horizon in POPGYM_HORIZONS.items():
    _popgym = dict(RL2, env=f"popgym-{_family}", level="easy", context_episodes=1, eval_episodes=1, batch_size=POPGYM_BATCH,
                   gamma=0.99, eval_tasks=1000, baselines=("random",), train_steps=POPGYM_STEPS // (POPGYM_BATCH * _horizon))
    _paper = dict(PAPER_RL2, train_steps=POPGYM_PAPER // (PAPER_RL2["batch_size"] * _horizon))
    register(f"popgym-{_family}-s5", f"POPGym's {_family} (easy): PPO with an S5 memory over each episode", _popgym, paper=_paper)
    register(f"popgym-{_family}-gru", f"popgym-{_family}-s5 with a GRU policy", dict(_popgym, backbone="gru"), paper=_paper)
    register(f"popgym-{_family}-mlp", f"popgym-{_family}-s5 with a memoryless policy (each step's token alone)",
             dict(_popgym, backbone="mlp"), paper=_paper)

# popjaxrl's randomly projected CartPole: the cart's and the pole's positions alone (no velocities) through a random
# orthogonal map to 4 features, the two actions relabelled at random, 16 episodes of 200 steps from one start per trial
PROJECTED_CARTPOLE = dict(RL2, env="projected", env_args=("base=CartPole-v1", "obs_size=4", "keep_obs=0,2"), horizon=200,
                          context_episodes=16, eval_episodes=16, batch_size=64, gamma=0.99, train_steps=60, eval_tasks=256,
                          baselines=("random",))
PROJECTED_PAPER = dict(PAPER_RL2, train_steps=POPGYM_PAPER // (PAPER_RL2["batch_size"] * 16 * 200))
register("cartpole-projected-rl2-s5", "meta-RL on randomly projected CartPole (positions only): PPO with an S5 memory "
         "across 16 episodes of one projection", PROJECTED_CARTPOLE, paper=PROJECTED_PAPER)
register("cartpole-projected-rl2-gru", "cartpole-projected-rl2-s5 with a GRU policy", dict(PROJECTED_CARTPOLE, backbone="gru"),
         paper=PROJECTED_PAPER)
register("cartpole-projected-rl2-mlp", "cartpole-projected-rl2-s5 with a memoryless policy (each step's token alone)",
         dict(PROJECTED_CARTPOLE, backbone="mlp"), paper=PROJECTED_PAPER)
