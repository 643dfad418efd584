"""The named experiments in one line each: what ``python -m train list`` prints, without importing JAX.

``tests/test_cli.py`` holds these names equal to :data:`train.configs.EXPERIMENTS` (and ``baselines``).
"""

from __future__ import annotations

DESCRIPTIONS = {
    "bandit-dpt": "the main job: DPT on 5-arm Bernoulli bandits, streamed contexts, against UCB and Thompson",
    "bandit-dpt-s5": "bandit-dpt with the S5 backbone, from a fixed dataset",
    "linear-bandit-dpt": "DPT on a 10-arm linear bandit (d = 2), against LinUCB and linear Thompson",
    "darkroom-dpt": "DPT on Dark Room 7x7, labels drawn as PSRL draws them, streamed",
    "darkroom-dpt-paper": "DPT on Dark Room 7x7 with the paper's label and its episode-frozen deployment",
    "darkroom-ad": "Algorithm Distillation of PSRL's learning histories on Dark Room 7x7, 40 episodes in context",
    "darkroom-ad-qlearning": "AD of optimistic Q-learning's histories on Dark Room 7x7",
    "darkroom-ad-s5": "darkroom-ad with the S5 backbone (its state spans every episode)",
    "keydoor-ad": "AD of PSRL's histories on Dark Key-to-Door 5x5",
    "keydoor-dpt": "DPT on Dark Key-to-Door 5x5, PSRL labels",
    "bandit-rl2-s5": "meta-RL: PPO with an S5 memory across trials of one bandit task, no dataset",
    "bandit-rl2-gru": "bandit-rl2-s5 with a GRU policy",
    "darkroom-rl2-s5": "meta-RL: PPO with an S5 memory across 4 episodes of one Dark Room goal",
    "darkroom-rl2-gru": "darkroom-rl2-s5 with a GRU policy",
    **{f"{room}-{method}": f"{text} on {name} (the common benchmark; python -m train compare {room})"
       for room, name in (("darkroom9", "Dark Room 9x9, 20-step episodes"), ("keydoor9", "Key-to-Door 9x9, 50-step episodes"))
       for method, text in (("ad", "AD of PSRL's histories"), ("ad-qlearning", "AD of Q-learning's histories"),
                            ("ad-s5", "AD with the S5 backbone"), ("ad-t2mir", "AD with T2MIR mixture-of-experts layers"),
                            ("ad-noisy", "AD on a noisy source (half the histories degraded)"),
                            ("ad-lhf", "AD + learning-history filtering on the noisy source"),
                            ("ad-t2mir-noisy", "AD with T2MIR layers on the noisy source"),
                            ("dpt", "DPT with PSRL labels, streamed"), ("rl2-s5", "meta-RL with an S5 memory"),
                            ("icee", "ICEE on epsilon-greedy oracle episodes"),
                            ("icee-noweights", "ICEE without the unbiasing weights"),
                            ("ad-sorted", "AD on ICEE's data, episodes sorted by decreasing epsilon"))},
    "darkroom9-radt": "RA-DT: a one-episode window and chunks of earlier episodes retrieved from memory, Dark Room 9x9",
    "darkroom9-radt-random": "darkroom9-radt retrieving chunks at random (the ablation)",
    "darkroom9-ad-short": "AD with darkroom9-radt's one-episode window and no retrieval",
    "darkroom9-ad-matched": "AD with as many tokens as darkroom9-radt (its window and retrieved chunks: 5 episodes)",
    "darkroom20-ad": "AD with two whole 400-step episodes in context (800 tokens), Dark Room 20x20",
    "darkroom20-radt": "RA-DT with a 100-step window behind retrieved chunks (180 tokens), Dark Room 20x20",
    "darkroom20-radt-random": "darkroom20-radt retrieving chunks at random (the ablation)",
    "darkroom20-ad-short": "AD with darkroom20-radt's 100-step window and no retrieval",
    "darkroom20-ad-matched": "AD with as many tokens as darkroom20-radt (its window and retrieved chunks: 180 steps)",
    "darkroom9-dicp": "DICP: AD on Q-learning's histories plus reward and next-state heads, planning by beam search, Dark Room 9x9",
    "keydoor9-dicp": "DICP on Key-to-Door 9x9 (Q-learning's histories, plans 16 steps deep; 160 held-out pairs per seed)",
    "keydoor9-icee-time": "keydoor9-icee whose no-shortfall condition also asks for the best return in the fewest steps",
    "keydoor9-dicp-psrl": "DICP on keydoor9-ad's data (PSRL's histories), plans 16 steps deep; 160 held-out pairs per seed",
    "biasedroom9-icee": "ICEE on Dark Room 9x9 with a biased data policy (python -m train compare biasedroom9)",
    "biasedroom9-icee-noweights": "biasedroom9-icee without the unbiasing weights",
    "bayesopt-icee": "ICEE doing Bayesian optimisation in context: 50 queries of a GP function on a 32x32 grid, against GP-EI",
    "bayesopt-icee-noweights": "bayesopt-icee without the unbiasing weights",
    "baselines": "the classic algorithms (UCB, Thompson, LinUCB, Q-learning, PSRL, ...) on every environment",
}


def listing() -> str:
    """Every experiment with its description (the built-in ones, then the plug-ins'), and how to run,
    evaluate and get help."""
    from train.presets import descriptions

    every = {**descriptions(), "baselines": DESCRIPTIONS["baselines"]}
    width = max(map(len, every))
    lines = ["usage: python -m train NAME [--flags]     run an experiment (python -m train NAME --help: its flags)",
             "       python -m train eval RUN_DIR [...]   evaluate a saved run again, without training",
             "       python -m train compare BENCHMARK    every method of darkroom9, keydoor9, biasedroom9 or darkroom20 in one table",
             "       python -m train list                 this list", "", "experiments:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in every.items()]
    return "\n".join(lines)
