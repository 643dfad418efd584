"""Named experiments: ``python -m train NAME [--overrides]``."""

from train.baselines import BaselinesConfig
from train.baselines import run as run_baselines
from train.configs import EXPERIMENTS, ExperimentConfig, config_for
from train.experiments import run as run_experiment

__all__ = ["BaselinesConfig", "run_baselines", "EXPERIMENTS", "ExperimentConfig", "config_for", "run_experiment"]
