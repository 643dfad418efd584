"""POPGym's memory tasks (Morad et al. 2023, "POPGym: Benchmarking Partially Observable Reinforcement
Learning") as gymnax environments: card games an agent can only win by remembering what it saw.

Six families, each at POPGym's three levels (``level="easy" | "medium" | "hard"``, a change of size):

- ``popgym-repeat-first``: name the suit of the episode's first card at every step;
- ``popgym-repeat-previous``: name the suit of the card dealt ``k`` steps ago;
- ``popgym-autoencode``: watch a deck dealt card by card, then name the suits in reverse order;
- ``popgym-count-recall``: a card is dealt and another one named; say how many of the named kind
  (colour, suit or rank) have been dealt so far;
- ``popgym-higher-lower``: guess whether the next card's rank is higher or lower (counting the
  cards gone helps);
- ``popgym-bandit``: a multi-armed bandit redrawn every episode, to explore then exploit.

Rules, rewards and episode lengths follow POPGym's own definitions (``tests/test_popgym.py`` plays
POPGym's environments and these side by side on the same shuffles): rewards are scaled so that an
episode's return lies in [-1, 1], and every episode runs its family's fixed length, so a multi-episode
rollout has a static shape. Observations are one-hot vectors of POPGym's discrete observations
(autoencode: the mode, then the suit; count recall: the dealt card's kind, then the named one).

A card is an index ``c`` of ``52 * num_decks`` cards: suit ``c % 4``, rank ``(c % 52) // 4``, colour
``c % 2`` (POPGym's deck). A shuffle is the order in which the cards are dealt, drawn from the reset
key. There is no task beyond the episode's own draw: every task of ``sample_tasks`` is the same, and
each episode (an auto-reset included) deals a fresh shuffle. ``optimal_return`` is POPGym's bound of
1, which a perfect memory reaches in the first four families (an upper bound in higher-lower and the
bandit, whose cards and payouts are drawn).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from envs.base import TaskEnvironment, check_positive_int, check_split

DECK = 52
LEVELS = ("easy", "medium", "hard")
#: POPGym's action for "the next card is higher" in higher-lower (1: lower).
HIGHER = 0


@struct.dataclass
class POPGymParams(environment.EnvParams):
    max_steps_in_episode: int = 1


@struct.dataclass
class CardState:
    time: jax.Array  # steps taken in the episode
    order: jax.Array  # (num_cards,) the cards in the order they are dealt
    queries: jax.Array  # (num_cards,) count recall's named cards, in order (the dealt order elsewhere, unused)


@struct.dataclass
class BanditState:
    time: jax.Array
    probs: jax.Array  # (num_arms,) each arm's probability of paying


def suit(card: jax.Array) -> jax.Array:
    return card % 4


def rank(card: jax.Array) -> jax.Array:
    return (card % DECK) // 4


def colour(card: jax.Array) -> jax.Array:
    return card % 2


def _level(level: str, table: dict):
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    return table[level]


class POPGymTask(TaskEnvironment):
    """What the families share: a fixed horizon, one-hot observations, no task beyond the episode's draw."""

    family: str = ""
    #: each episode's start is drawn from the reset key (a fresh shuffle), not fixed by the task
    random_start = True
    #: POPGym's sizes: each level's attributes
    SIZES: dict = {}

    def __init__(self, level: str = "easy"):
        super().__init__()
        self.level = level
        for name, value in _level(level, self.SIZES).items():
            setattr(self, name, value)

    @property
    def name(self) -> str:
        return f"popgym-{self.family}"

    @property
    def default_params(self) -> POPGymParams:
        return POPGymParams(max_steps_in_episode=self.horizon)

    def sample_tasks(self, key: jax.Array, num_tasks: int, split: str = "train") -> POPGymParams:
        """``num_tasks`` copies of the one task (each episode draws its own cards): ``split`` is checked, not used."""
        check_split(split)
        num_tasks = check_positive_int("num_tasks", num_tasks)
        return POPGymParams(max_steps_in_episode=jnp.full((num_tasks,), self.horizon, jnp.int32))

    def optimal_return(self, params) -> jax.Array:
        return jnp.ones(jnp.shape(params.max_steps_in_episode), jnp.float32)

    @property
    def num_actions(self) -> int:
        raise NotImplementedError

    @property
    def obs_dim(self) -> int:
        raise NotImplementedError

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.obs_dim,), jnp.float32)

    def is_terminal(self, state, params) -> jax.Array:
        """A card game ends when its cards run out, at the horizon (the bandit is cut there: truncated)."""
        return state.time >= self.horizon


class CardGame(POPGymTask):
    """A family played with ``num_decks`` shuffled decks: ``num_cards`` cards dealt one a step."""

    num_decks: int = 1

    @property
    def num_cards(self) -> int:
        return DECK * self.num_decks

    @property
    def horizon(self) -> int:
        """A step per card dealt after the first."""
        return self.num_cards - 1

    def reset_env(self, key, params):
        k_order, k_query = jax.random.split(key)
        n = self.num_cards
        state = CardState(jnp.zeros((), jnp.int32), jax.random.permutation(k_order, n).astype(jnp.int32),
                          jax.random.permutation(k_query, n).astype(jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state: CardState, action, params):
        reward = self.reward(state, action)
        state = state.replace(time=state.time + 1)
        return self.get_obs(state), state, reward.astype(jnp.float32), self.is_terminal(state, params), {}

    def shown(self, state: CardState) -> jax.Array:
        """The card last dealt, the one the observation shows."""
        return state.order[jnp.minimum(state.time, self.num_cards - 1)]

    def reward(self, state: CardState, action) -> jax.Array:
        raise NotImplementedError

    #: what the observation shows of the card last dealt (suit or rank), one-hot over ``obs_dim``
    shows = staticmethod(suit)

    def get_obs(self, state: CardState, params=None, key=None) -> jax.Array:
        return jax.nn.one_hot(self.shows(self.shown(state)), self.obs_dim)


class RepeatFirst(CardGame):
    """At every step, name the suit of the episode's first card (the first observation); ±1/(N − 1) a step,
    N − 1 steps of N cards (1, 8 or 16 decks)."""

    family = "repeat-first"
    SIZES = {"easy": {"num_decks": 1}, "medium": {"num_decks": 8}, "hard": {"num_decks": 16}}
    num_actions = 4
    obs_dim = 4

    def reward(self, state, action):
        return jnp.where(action == suit(state.order[0]), 1.0, -1.0) / (self.num_cards - 1)


class RepeatPrevious(CardGame):
    """Name the suit of the card dealt ``k`` steps before the one just seen (``k`` = 4, 32, 64 with 1, 2, 3
    decks): at step ``j`` (from 1) the card dealt at ``j − k``; ±1/(N − k) from step ``k`` on, 0 before."""

    family = "repeat-previous"
    SIZES = {"easy": {"num_decks": 1, "k": 4}, "medium": {"num_decks": 2, "k": 32}, "hard": {"num_decks": 3, "k": 64}}
    num_actions = 4
    obs_dim = 4

    def reward(self, state, action):
        j = state.time + 1
        target = suit(state.order[jnp.maximum(j - self.k, 0)])
        scored = jnp.where(action == target, 1.0, -1.0) / (self.num_cards - self.k)
        return jnp.where(j >= self.k, scored, 0.0)


class Autoencode(CardGame):
    """Watch N cards (1, 2 or 3 decks) dealt one a step, then name their suits last first: N − 1 watching
    steps (no reward), then N playing steps of ±1/N. The observation is the mode (play 0, watch 1) and the
    dealt card's suit; while playing, (0, 0) as POPGym gives."""

    family = "autoencode"
    SIZES = {"easy": {"num_decks": 1}, "medium": {"num_decks": 2}, "hard": {"num_decks": 3}}
    num_actions = 4

    @property
    def horizon(self) -> int:
        return 2 * self.num_cards - 1
    obs_dim = 6

    def get_obs(self, state, params=None, key=None):
        n, t = self.num_cards, state.time
        watching = t < n - 1  # the mode after step t: the last card's deal turns it to play
        shown = jnp.where(t <= n - 1, suit(state.order[jnp.minimum(t, n - 1)]), 0)
        return jnp.concatenate([jax.nn.one_hot(watching.astype(jnp.int32), 2), jax.nn.one_hot(shown, 4)])

    def reward(self, state, action):
        n, j = self.num_cards, state.time + 1
        playing = j > n - 1
        target = suit(state.order[jnp.clip(2 * n - 1 - j, 0, n - 1)])  # play step p = j - (n - 1) names card n - p
        return jnp.where(playing, jnp.where(action == target, 1.0, -1.0) / n, 0.0)


class CountRecall(CardGame):
    """A card is dealt and another named, from two shuffles; say how many cards of the named one's kind
    (colour, suit, rank: easy, medium, hard, with 1, 2, 4 decks) have been dealt, the one just dealt
    included. ±1/(N − 1) a step, N − 1 steps; ``N / kinds + 1`` actions (counts 0 to N / kinds)."""

    family = "count-recall"
    SIZES = {"easy": {"num_decks": 1, "kind": "colour"}, "medium": {"num_decks": 2, "kind": "suit"},
             "hard": {"num_decks": 4, "kind": "rank"}}

    @property
    def kinds(self) -> int:
        return {"colour": 2, "suit": 4, "rank": 13}[self.kind]

    @property
    def num_actions(self) -> int:
        return self.num_cards // self.kinds + 1

    @property
    def obs_dim(self) -> int:
        return 2 * self.kinds

    def of_kind(self, card):
        return {"colour": colour, "suit": suit, "rank": rank}[self.kind](card)

    def get_obs(self, state, params=None, key=None):
        t = jnp.minimum(state.time, self.num_cards - 1)
        return jnp.concatenate([jax.nn.one_hot(self.of_kind(state.order[t]), self.kinds),
                                jax.nn.one_hot(self.of_kind(state.queries[t]), self.kinds)])

    def reward(self, state, action):
        t = state.time
        dealt = jnp.arange(self.num_cards) <= t
        count = jnp.sum(dealt & (self.of_kind(state.order) == self.of_kind(state.queries[t])))
        return jnp.where(action == count, 1.0, -1.0) / (self.num_cards - 1)


class HigherLower(CardGame):
    """Guess whether the next card's rank is higher (action 0) or lower (1) than the one shown: ±1/N, 0 for
    an equal rank; N − 1 steps of N cards (1, 2 or 3 decks). The observation is the shown card's rank."""

    family = "higher-lower"
    SIZES = {"easy": {"num_decks": 1}, "medium": {"num_decks": 2}, "hard": {"num_decks": 3}}
    num_actions = 2
    obs_dim = 13
    shows = staticmethod(rank)

    def reward(self, state, action):
        j = jnp.minimum(state.time + 1, self.num_cards - 1)
        shown, dealt = rank(state.order[j - 1]), rank(state.order[j])
        right = (dealt > shown) == (action == HIGHER)
        return jnp.where(dealt == shown, 0.0, jnp.where(right, 1.0, -1.0) / self.num_cards)


class Bandit(POPGymTask):
    """POPGym's episodic bandit: each episode draws every arm's probability of paying uniformly from [0, 1);
    a pull pays +1/L or else −1/L, L steps (10 arms for 200 steps, 20 for 400, 30 for 600). The observation
    is whether the last pull paid (one-hot; none before the first)."""

    family = "bandit"
    SIZES = {"easy": {"num_arms": 10, "horizon": 200}, "medium": {"num_arms": 20, "horizon": 400},
             "hard": {"num_arms": 30, "horizon": 600}}

    @property
    def num_actions(self) -> int:
        return self.num_arms

    obs_dim = 2

    def reset_env(self, key, params):
        state = BanditState(jnp.zeros((), jnp.int32), jax.random.uniform(key, (self.num_arms,)))
        return jax.nn.one_hot(0, 2), state

    def step_env(self, key, state: BanditState, action, params):
        paid = jax.random.uniform(key) < state.probs[action]
        reward = jnp.where(paid, 1.0, -1.0) / self.horizon
        state = state.replace(time=state.time + 1)
        return jax.nn.one_hot(paid.astype(jnp.int32), 2), state, reward, jnp.array(False), {}  # truncated, never terminated


FAMILIES = {cls.family: cls for cls in (RepeatFirst, RepeatPrevious, Autoencode, CountRecall, HigherLower, Bandit)}
