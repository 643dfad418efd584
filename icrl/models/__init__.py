"""Sequence models behind one interface: a causal transformer (KV cache), S5 (resettable state), a GRU and a memoryless MLP."""

from __future__ import annotations

from envs.base import check_keywords
from icrl.models.gru import GRU
from icrl.models.mlp import MLP
from icrl.models.s5 import S5
from icrl.models.tokens import TokenSpec
from icrl.models.transformer import KVCache, Transformer

BACKBONES = {"transformer": Transformer, "s5": S5, "gru": GRU, "mlp": MLP}


def make_model(backbone: str, token_dim: int, num_outputs: int, **kwargs):
    """Build backbone ``backbone`` (``transformer``, ``s5``, ``gru`` or ``mlp``) for tokens of ``token_dim`` features."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; valid names: {sorted(BACKBONES)}")
    check_keywords(BACKBONES[backbone], kwargs, f"backbone {backbone!r}")
    return BACKBONES[backbone](token_dim=token_dim, num_outputs=num_outputs, **kwargs)


def model_from_record(record: dict):
    """The model a checkpoint's record describes: ``{"class": "Transformer" | "S5" | "GRU" | "MLP", **fields}``."""
    classes = {cls.__name__: cls for cls in BACKBONES.values()}
    fields = dict(record)
    name = fields.pop("class", None)
    if name not in classes:
        raise ValueError(f"checkpoint record names model class {name!r}; known classes: {sorted(classes)}")
    check_keywords(classes[name], fields, f"the model class {name} of a checkpoint record")
    return classes[name](**fields)


__all__ = ["BACKBONES", "make_model", "model_from_record", "Transformer", "KVCache", "S5", "GRU", "MLP", "TokenSpec"]
