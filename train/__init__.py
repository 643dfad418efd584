"""Named experiments: ``python -m train NAME [--overrides]``."""

from train.baselines import BaselinesConfig
from train.baselines import run as run_baselines

EXPERIMENTS = {
    "baselines": (BaselinesConfig, run_baselines),
}
