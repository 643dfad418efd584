"""In-context exploration-exploitation (ICEE, Dai, Tomasi & Ghiassian 2024): a sequence model over
several episodes of one task, trained on episodes of an ε-greedy oracle (not learning histories),
conditioned on each step's in-episode return to go and a cross-episode "better than every earlier
episode" flag, with each action's log-likelihood weighted by uniform(a) / π(a | o) so that the
model's action prior is uniform rather than the data policy's. Deployed with the flag always on.

The same data make the paper's two baselines: AD on each task's episodes sorted by decreasing ε
(``conditioned=False, unbiased=False, sort_by_epsilon=True``) and ICEE without the weights
(``unbiased=False``).

The method is one folder, read top to bottom: ``method.py`` (its settings and how the parts meet: the
:class:`~train.methods.base.Method`), ``objective.py`` (token conditions, the flag, the unbiasing weights),
``data.py`` (ε-greedy oracle episodes and their conditions), ``agent.py`` (asks for the best, relabels
finished episodes), and ``presets.py`` (its named experiments, each with its one-line description). This
file imports none of them, so listing the presets imports no JAX.
"""

from __future__ import annotations

from train.methods.base import lazy_exports

__all__ = ["ICEE", "ICEEConfig"]
__getattr__ = lazy_exports(__name__, tuple(__all__))
