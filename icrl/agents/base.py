"""The one interface every actor shares: classic algorithms, collectors, oracles, models."""

from __future__ import annotations

from typing import Any, Protocol

import jax

from icrl.types import Transition

AgentState = Any


class Agent(Protocol):
    """Pure functions over a pytree state, so ``rollout`` can vmap and scan them.

    ``init`` runs once per task (an agent may read the task's ``env_params``:
    the oracle does, LinUCB reads the arm features); ``act`` picks an action
    for ``obs``; ``update`` learns from one transition. An agent instance is
    static configuration (hashable, no arrays that change), its state is data.

    Optional: ``record(state) -> pytree``, what the agent reports about the step
    it just took (called after ``act``); ``rollout`` keeps it as ``History.info``
    (the ε-greedy oracle reports the probability of its action, ICEE's weights);
    ``end_episode(state) -> state``, episode-level work that ``rollout`` runs after the
    last step of every episode of a fixed-length environment (an ICEE model relabels the
    episode it finished).
    """

    num_actions: int

    def init(self, key: jax.Array, env_params: Any) -> AgentState: ...

    def act(self, key: jax.Array, state: AgentState, obs: jax.Array) -> tuple[jax.Array, AgentState]: ...

    def update(self, state: AgentState, transition: Transition) -> AgentState: ...
