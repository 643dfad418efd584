"""Retrieval of past experience for RA-DT (Schmied et al. 2024, "Retrieval-Augmented Decision
Transformer: External Memory for In-context RL", arXiv 2410.07071).

A task's memory is its own token stream so far, cut into chunks of ``chunk`` steps. Chunk ``j``
(steps ``[j C, (j + 1) C)``) is keyed by an embedding of its tokens; its value is the chunk and
its continuation, steps ``[j C, (j + 2) C)``: what followed a situation like the query. The
embedding is domain-agnostic and untrained: a frozen random projection of the tokens,
mean-pooled (the same fixed matrix in training and at deployment). Retrieval is exact: cosine
similarity to every chunk of the memory (a memory of a few thousand chunks is a matrix product;
a library index would only pay off far beyond the rooms here), the ``candidates`` most similar
kept, then reweighted by relevance (their similarity rank) and utility (the reward their value
collected, as a share of the best in memory), and the ``retrieved`` best of them returned.

The query is the model's current context, as the paper's: the embedding of the ``chunk`` most
recent steps of the window (deployed, the steps up to and including the one being acted on; in
training, the window's last ``chunk`` steps, so that the window's last position, the one a
deployed agent acts from, sees what it would see deployed).

What may be retrieved is fixed by one number, the start of the model's window: a chunk is
retrievable only if its whole value lies before it. In training the memory is the window's own
learning history, so nothing from the window or after it, nor from another task, can be
retrieved; at deployment it is the agent's own episodes on the task.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

MODES = ("similar", "random")


def projection(token_dim: int, embed_dim: int) -> jax.Array:
    """The frozen random embedding matrix ``(token_dim, embed_dim)``: fixed by its shape alone."""
    return jax.random.normal(jax.random.PRNGKey(0), (token_dim, embed_dim)) / jnp.sqrt(token_dim)


def embed(tokens: jax.Array, matrix: jax.Array) -> jax.Array:
    """Mean-pooled random projection of ``tokens (..., steps, token_dim)``: ``(..., embed_dim)``."""
    return jnp.mean(tokens, axis=-2) @ matrix


def cosine(query: jax.Array, keys: jax.Array) -> jax.Array:
    """Cosine similarity of ``query (E,)`` to each of ``keys (M, E)``: ``(M,)`` (0 for a zero vector)."""
    norms = jnp.linalg.norm(keys, axis=-1) * jnp.linalg.norm(query)
    return (keys @ query) / jnp.maximum(norms, 1e-8)


def select(key, similarity, utility, valid, retrieved: int, candidates: int, utility_weight: float, mode: str = "similar"):
    """``(indices (retrieved,), found (retrieved,) bool)``: the chunks to retrieve among ``valid``
    ones. ``"similar"``: the ``candidates`` most similar, scored ``relevance + utility_weight *
    utility`` with relevance ``1 - rank / candidates`` (1 for the most similar) and utility as a
    share of the most any valid chunk collected, best score first. ``"random"``: valid chunks
    drawn uniformly without replacement (the ablation). ``found`` is false for slots left empty
    when fewer chunks are valid."""
    if mode not in MODES:
        raise ValueError(f"retrieval mode must be one of {MODES}, got {mode!r}")
    num_chunks = similarity.shape[0]
    candidates = min(candidates, num_chunks)
    retrieved = min(retrieved, candidates)
    if mode == "random":
        score = jnp.where(valid, jax.random.uniform(key, (num_chunks,)), -jnp.inf)
        top, indices = jax.lax.top_k(score, retrieved)
        return indices, jnp.isfinite(top)
    sim, near = jax.lax.top_k(jnp.where(valid, similarity, -jnp.inf), candidates)
    best = jnp.max(jnp.where(valid, utility, 0.0))
    share = jnp.where(best > 0, utility[near] / jnp.maximum(best, 1e-8), 0.0)
    score = 1.0 - jnp.arange(candidates) / candidates + utility_weight * share
    top, order = jax.lax.top_k(jnp.where(jnp.isfinite(sim), score, -jnp.inf), retrieved)
    return near[order], jnp.isfinite(top)


@dataclass(frozen=True)
class ChunkMemory:
    """How RA-DT retrieves from a task's token stream: ``chunk`` steps a chunk, ``retrieved``
    values of ``2 * chunk`` steps returned from the ``candidates`` most similar chunks, utility
    weighted by ``utility_weight``, embeddings of ``embed_dim`` features; ``mode="random"``
    retrieves valid chunks at random."""

    chunk: int
    retrieved: int
    candidates: int
    utility_weight: float = 1.0
    embed_dim: int = 32
    mode: str = "similar"

    def __post_init__(self):
        for name in ("chunk", "retrieved", "candidates", "embed_dim"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.candidates < self.retrieved:
            raise ValueError(f"candidates={self.candidates} must be at least retrieved={self.retrieved}")
        if self.mode not in MODES:
            raise ValueError(f"retrieval mode must be one of {MODES}, got {self.mode!r}")

    @property
    def value_steps(self) -> int:
        return 2 * self.chunk

    @property
    def prefix_len(self) -> int:
        """Tokens the retrieved values take before the model's window."""
        return self.retrieved * self.value_steps

    def chunk_keys(self, tokens: jax.Array) -> jax.Array:
        """The key of every whole chunk of ``tokens (L, D)``: ``(L // chunk, embed_dim)``."""
        num_chunks, dim = tokens.shape[0] // self.chunk, tokens.shape[1]
        return embed(tokens[: num_chunks * self.chunk].reshape(num_chunks, self.chunk, dim), projection(dim, self.embed_dim))

    def query(self, tokens: jax.Array, context_end) -> jax.Array:
        """The embedding a context ending before step ``context_end`` queries with: of its ``chunk``
        most recent steps, ``[context_end - chunk, context_end)`` (the stream's first ``chunk``
        before there are as many)."""
        start = jnp.maximum(context_end - self.chunk, 0)
        return embed(jax.lax.dynamic_slice_in_dim(tokens, start, self.chunk), projection(tokens.shape[1], self.embed_dim))

    def select_chunks(self, keys: jax.Array, chunk_rewards: jax.Array, query: jax.Array, window_start, key):
        """``(indices, found)``: the chunks to show a window beginning at ``window_start``, from the
        memory's chunk ``keys (M, E)`` and the reward each chunk collected, ``chunk_rewards (M,)``:
        only chunks whose value (the chunk and the next) ends at or before the window."""
        num_chunks = keys.shape[0]
        valid = (jnp.arange(num_chunks) + 2) * self.chunk <= window_start
        after = jnp.concatenate([chunk_rewards[1:], jnp.zeros(1, chunk_rewards.dtype)])
        utility = chunk_rewards + after  # the reward of each chunk's value: it and its continuation
        return select(key, cosine(query, keys), utility, valid, self.retrieved, self.candidates, self.utility_weight, self.mode)

    def retrieve(self, tokens: jax.Array, rewards: jax.Array, window_start, window_end, key):
        """``(indices, found)`` of the chunks of one task's stream ``tokens (L, D)`` (``rewards (L,)``
        its steps' rewards) to show a window of steps ``[window_start, window_end)``: only chunks
        whose value ends at or before its start, queried by its ``chunk`` most recent steps."""
        num_chunks = tokens.shape[0] // self.chunk
        chunk_rewards = rewards[: num_chunks * self.chunk].reshape(num_chunks, self.chunk).sum(-1)
        return self.select_chunks(self.chunk_keys(tokens), chunk_rewards, self.query(tokens, window_end), window_start, key)

    def values(self, tokens: jax.Array, indices: jax.Array, found: jax.Array) -> jax.Array:
        """The values of chunks ``indices`` of ``tokens (L, D)`` as the model's prefix
        ``(prefix_len, D + 1)``: each value's tokens with a last feature 1 (retrieved), slots not
        ``found`` all zeros."""
        steps = indices[:, None] * self.chunk + jnp.arange(self.value_steps)  # (retrieved, 2C)
        values = jnp.take(tokens, jnp.minimum(steps, tokens.shape[0] - 1), axis=0)
        flagged = jnp.concatenate([values, jnp.ones(values.shape[:-1] + (1,), values.dtype)], axis=-1)
        flagged = jnp.where(found[:, None, None], flagged, 0.0)
        return flagged.reshape(self.prefix_len, tokens.shape[1] + 1)

    def prefix(self, tokens: jax.Array, rewards: jax.Array, window_start, window_end, key) -> jax.Array:
        """The retrieved values as tokens ``(prefix_len, D + 1)`` (:meth:`values`)."""
        return self.values(tokens, *self.retrieve(tokens, rewards, window_start, window_end, key))

    def with_window(self, prefix: jax.Array, tokens: jax.Array, window_start, window: int) -> jax.Array:
        """``prefix``, then ``window`` tokens of ``tokens`` from ``window_start`` with a last feature 0."""
        steps = jax.lax.dynamic_slice_in_dim(tokens, window_start, window)
        return jnp.concatenate([prefix, jnp.concatenate([steps, jnp.zeros((window, 1), steps.dtype)], axis=-1)])

    def sequence(self, tokens: jax.Array, rewards: jax.Array, window_start, window: int, key) -> jax.Array:
        """The model's input ``(prefix_len + window, D + 1)``, the same in training and deployed: the
        values retrieved from the first ``len(rewards)`` steps of ``tokens`` (the memory; the
        stream may run past it, with room for the window) by the window's last ``chunk`` steps,
        then ``window`` tokens from ``window_start`` with a last feature 0."""
        memory = tokens[: rewards.shape[0]]
        return self.with_window(self.prefix(memory, rewards, window_start, window_start + window, key), tokens, window_start, window)


__all__ = ["ChunkMemory", "MODES", "cosine", "embed", "projection", "select"]
