"""Task environments for in-context RL: gymnax environments whose task lives in ``EnvParams``.

>>> env, params = envs.make("darkroom", size=10, horizon=100)
>>> tasks = env.sample_tasks(jax.random.PRNGKey(0), 1000, split="train")
"""

from __future__ import annotations

from envs.bandit import Bandit, BanditParams, BernoulliBandit, GaussianBandit, MultiArmedBandit
from envs.bayesopt import BayesOpt, BayesOptParams
from envs.base import SPLITS, TaskEnvironment, check_keywords, check_positive_int, check_signature, is_bandit, signature
from envs.darkroom import DarkRoom, DarkRoomParams
from envs.grid import GridWorld
from envs.keydoor import DarkKeyToDoor, KeyToDoorParams
from envs.linear_bandit import LinearBandit, LinearBanditParams
from envs.popgym import FAMILIES as POPGYM_FAMILIES
from envs.projected import Projected, ProjectedParams

REGISTRY = {
    "bernoulli-bandit": BernoulliBandit,
    "gaussian-bandit": GaussianBandit,
    "linear-bandit": LinearBandit,
    "darkroom": DarkRoom,
    "keydoor": DarkKeyToDoor,
    "bayesopt": BayesOpt,
    "projected": Projected,
    **{f"popgym-{family}": cls for family, cls in POPGYM_FAMILIES.items()},
}


def register(name: str, cls: type) -> type:
    """Add environment class ``cls`` (a :class:`TaskEnvironment`) under ``name``, for :func:`make` and
    every experiment; a plug-in package calls it when it is loaded (``train.plugins``). A name taken
    by another class, or a class that is not a task environment, is refused."""
    if not (isinstance(cls, type) and issubclass(cls, TaskEnvironment)):
        raise ValueError(f"environment {name!r}: expected a subclass of envs.TaskEnvironment, got {cls!r}")
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"an environment's name must be one word, got {name!r}")
    if REGISTRY.get(name, cls) is not cls:
        raise ValueError(f"an environment named {name!r} is already registered ({REGISTRY[name].__name__})")
    REGISTRY[name] = cls
    return cls


def make(name: str, **kwargs):
    """Build environment ``name`` with constructor ``kwargs``; returns ``(env, default_params)``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown environment {name!r}; valid names: {sorted(REGISTRY)}")
    check_keywords(REGISTRY[name], kwargs, f"environment {name!r}")
    env = REGISTRY[name](**kwargs)
    env.make_args = (name, dict(kwargs))  # recorded in datasets and checkpoints
    return env, env.default_params


__all__ = [
    "REGISTRY", "SPLITS", "make", "register", "signature", "check_signature", "is_bandit", "check_positive_int",
    "TaskEnvironment", "Bandit", "MultiArmedBandit", "BernoulliBandit",
    "GaussianBandit", "BanditParams", "LinearBandit", "LinearBanditParams", "GridWorld",
    "DarkRoom", "DarkRoomParams", "DarkKeyToDoor", "KeyToDoorParams", "BayesOpt", "BayesOptParams", "Projected",
    "ProjectedParams",
]
