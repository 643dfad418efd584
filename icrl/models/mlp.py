"""A memoryless policy with the shared model interface: each output sees its own token alone.

The baseline that tells memory's worth: on a task that needs memory, a recurrent
policy beats it; where it does not, it matches it. Its token is whatever the
method builds (meta-RL's: the observation, the previous action, reward and done
flag), so "memoryless" means no state beyond one step's token. It has no carry:
``init_carry`` gives an empty tuple and resets change nothing.
"""

from __future__ import annotations

import flax.linen as nn

from icrl.models.base import check_sequence, check_step


class _Block(nn.Module):
    width: int

    @nn.compact
    def __call__(self, x):
        y = nn.Dense(self.width, name="up")(nn.LayerNorm(name="norm")(x))
        return x + nn.Dense(self.width, name="down")(nn.gelu(y))


class MLP(nn.Module):
    """Residual MLP blocks (pre-LayerNorm) applied to each token on its own; ``step`` is the same map."""

    token_dim: int
    num_outputs: int
    num_layers: int = 2
    width: int = 64
    dropout: float = 0.0  # accepted for a uniform config; the blocks have no dropout

    def setup(self):
        self.embed = nn.Dense(self.width, bias_init=nn.initializers.normal(0.02))
        self.blocks = [_Block(self.width) for _ in range(self.num_layers)]
        self.ln_out = nn.LayerNorm()
        self.head = nn.Dense(self.num_outputs)

    def _map(self, tokens):
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_out(x))

    def __call__(self, tokens, resets=None, deterministic: bool = True):
        """``tokens: (batch, time, token_dim)`` -> ``(batch, time, num_outputs)``; ``resets`` are checked, not needed."""
        check_sequence(tokens, resets, self.token_dim)
        return self._map(tokens)

    def init_carry(self, batch: int):
        """No state: an empty tuple."""
        return ()

    def step(self, carry, token, reset=None):
        check_step(token, reset, self.token_dim)
        return carry, self._map(token)
