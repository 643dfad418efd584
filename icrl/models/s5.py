"""S5: a simplified structured state-space model with a resettable state (Lu et al. 2023).

Diagonal complex state, HiPPO-N initialisation, zero-order-hold discretisation
with learned per-state step sizes, conjugate-symmetric parameters (half the
state is stored, the output takes twice the real part). Training runs
``jax.lax.associative_scan``; its operator also carries a reset flag, so one
parallel scan restarts the state wherever ``reset`` is set. ``scan="sequential"``
runs the same recurrence one step at a time (``jax.lax.scan``): the same function to
float rounding, and on CPU the faster inside a program each device runs alone
(meta-RL's update, :mod:`icrl.metarl`), where the associative scan's passes over the
whole sequence cost more than its depth saves (``benchmarks/metarl.py --popjaxrl``).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from icrl.models.base import check_sequence, check_step


def hippo_normal_eigs(state_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``(state_size // 2,)`` and eigenvectors ``(state_size, state_size // 2)``
    of the normal part of HiPPO-LegS, keeping one of each conjugate pair."""
    n = np.arange(state_size)
    p = np.sqrt(1.0 + 2.0 * n)
    legs = -(np.tril(np.outer(p, p)) - np.diag(n))
    low_rank = np.sqrt(n + 0.5)
    normal = legs + np.outer(low_rank, low_rank)  # = -1/2 I + skew-symmetric
    skew = normal + 0.5 * np.eye(state_size)
    omega, vecs = np.linalg.eigh(-1j * skew)  # skew = V diag(i·omega) V^H
    keep = np.argsort(omega)[state_size // 2 :]  # the positive-frequency half
    return -0.5 + 1j * omega[keep], vecs[:, keep]


#: How an S5 layer runs its recurrence over a sequence (``S5(scan=...)``).
SCANS = ("associative", "sequential")


def reset_scan_operator(earlier, later):
    """Compose two affine state maps ``x -> a·x + b``, dropping ``earlier`` where ``later`` resets."""
    a_i, b_i, r_i = earlier
    a_j, b_j, r_j = later
    a = jnp.where(r_j, a_j, a_j * a_i)
    b = jnp.where(r_j, b_j, a_j * b_i + b_j)
    return a, b, r_i | r_j


class S5SSM(nn.Module):
    """One S5 layer over ``(batch, time, width)`` inputs with a state of ``state_size`` (complex, half stored)."""

    width: int
    state_size: int
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    scan: str = "associative"

    def setup(self):
        if self.scan not in SCANS:
            raise ValueError(f"scan must be one of {SCANS}, got {self.scan!r}")
        if self.state_size % 2:
            raise ValueError(f"state_size must be even (conjugate pairs), got {self.state_size}")
        eigs, vecs = hippo_normal_eigs(self.state_size)
        half = self.state_size // 2
        self.log_neg_re = self.param("log_neg_re", lambda k: jnp.log(-jnp.asarray(eigs.real, jnp.float32)))
        self.lambda_im = self.param("lambda_im", lambda k: jnp.asarray(eigs.imag, jnp.float32))
        v_inv = jnp.asarray(vecs.conj().T, jnp.complex64)  # (half, state_size)

        def init_b(key):
            b = nn.initializers.lecun_normal()(key, (self.state_size, self.width))
            bt = v_inv @ b.astype(jnp.complex64)
            return jnp.stack([bt.real, bt.imag], -1)

        self.b = self.param("b", init_b)  # (half, width, 2)
        self.c = self.param("c", nn.initializers.normal(1.0 / np.sqrt(half)), (self.width, half, 2))
        self.d = self.param("d", nn.initializers.normal(1.0), (self.width,))
        self.log_dt = self.param(
            "log_dt", lambda k: jax.random.uniform(k, (half,), minval=np.log(self.dt_min), maxval=np.log(self.dt_max))
        )

    def discretized(self):
        """``(lambda_bar: (half,), b_bar: (half, width))``, zero-order hold."""
        lam = -jnp.exp(self.log_neg_re) + 1j * self.lambda_im
        lam_bar = jnp.exp(lam * jnp.exp(self.log_dt))
        b = self.b[..., 0] + 1j * self.b[..., 1]
        return lam_bar, ((lam_bar - 1.0) / lam)[:, None] * b

    def _output(self, states, u):
        # 2 Re(C x) as one real product: [Re x, Im x] against [Re C, -Im C]
        c = jnp.concatenate([self.c[..., 0], -self.c[..., 1]], axis=1)  # (width, state_size)
        x = jnp.concatenate([states.real, states.imag], axis=-1)
        return 2.0 * (x @ c.T) + self.d * u

    def _input(self, b_bar, u):
        """``B u`` of real ``u``: one real product against ``[Re B; Im B]``."""
        both = u @ jnp.concatenate([b_bar.real, b_bar.imag], axis=0).T
        half = b_bar.shape[0]
        return jax.lax.complex(both[..., :half], both[..., half:])

    def __call__(self, u, resets):
        """``u: (batch, time, width)``, ``resets: (batch, time)``."""
        lam_bar, b_bar = self.discretized()
        bu = self._input(b_bar, u)
        if self.scan == "sequential":
            def one_step(state, step):
                bu_t, reset_t = step
                state = jnp.where(reset_t[:, None], 0.0, lam_bar * state) + bu_t
                return state, state

            steps = (jnp.moveaxis(bu, 1, 0), jnp.moveaxis(resets, 1, 0))
            _, states = jax.lax.scan(one_step, jnp.zeros_like(bu[:, 0]), steps)
            return self._output(jnp.moveaxis(states, 0, 1), u)
        a = jnp.broadcast_to(lam_bar, bu.shape)
        r = jnp.broadcast_to(resets[..., None], bu.shape)
        _, states, _ = jax.lax.associative_scan(reset_scan_operator, (a, bu, r), axis=1)
        return self._output(states, u)

    def step(self, state, u, reset):
        """``state: (batch, half) complex``, ``u: (batch, width)``, ``reset: (batch,)``."""
        lam_bar, b_bar = self.discretized()
        state = jnp.where(reset[:, None], 0.0, state)
        state = lam_bar * state + self._input(b_bar, u)
        return state, self._output(state, u)


class S5Block(nn.Module):
    width: int
    state_size: int
    dropout: float
    scan: str = "associative"

    def setup(self):
        self.norm = nn.LayerNorm()
        self.ssm = S5SSM(self.width, self.state_size, scan=self.scan)
        self.gate = nn.Dense(self.width)
        self.drop = nn.Dropout(self.dropout)

    def _mix(self, x, y, deterministic):
        y = nn.gelu(y)
        y = y * jax.nn.sigmoid(self.gate(y))
        return x + self.drop(y, deterministic=deterministic)

    def __call__(self, x, resets, deterministic=True):
        return self._mix(x, self.ssm(self.norm(x), resets), deterministic)

    def step(self, state, x, reset):
        state, y = self.ssm.step(state, self.norm(x), reset)
        return state, self._mix(x, y, True)


class S5(nn.Module):
    """Stack of S5 blocks (pre-LayerNorm, GELU, sigmoid gating, residual) with the
    shared model interface. No context limit: ``step`` is O(1) in the history length."""

    token_dim: int
    num_outputs: int
    num_layers: int = 3
    width: int = 64
    state_size: int = 64
    dropout: float = 0.0
    scan: str = "associative"  # or "sequential" (see the module's docstring); the same function, another speed

    def setup(self):
        # a random bias, as the transformer's: a token of zeros must not embed to the zero vector (LayerNorm of it)
        self.embed = nn.Dense(self.width, bias_init=nn.initializers.normal(0.02))
        self.blocks = [S5Block(self.width, self.state_size, self.dropout, self.scan) for _ in range(self.num_layers)]
        self.ln_out = nn.LayerNorm()
        self.head = nn.Dense(self.num_outputs)

    def __call__(self, tokens, resets=None, deterministic: bool = True):
        """``tokens: (batch, time, token_dim)``, ``resets: (batch, time)`` -> ``(batch, time, num_outputs)``."""
        resets = check_sequence(tokens, resets, self.token_dim)
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, resets, deterministic)
        return self.head(self.ln_out(x))

    def init_carry(self, batch: int):
        """One ``(batch, state_size // 2) complex64`` state per layer."""
        return tuple(jnp.zeros((batch, self.state_size // 2), jnp.complex64) for _ in range(self.num_layers))

    def step(self, carry, token, reset=None):
        reset = check_step(token, reset, self.token_dim)
        x = self.embed(token)
        new_carry = []
        for block, state in zip(self.blocks, carry):
            state, x = block.step(state, x, reset)
            new_carry.append(state)
        return tuple(new_carry), self.head(self.ln_out(x))
