"""Partial weight loading: copy every tensor whose name and shape match.

Why: fine-tuning starts from a checkpoint of a related architecture (a detect model into a -seg
model, or a model trained on another class count). Names follow ``model.N.…``, so the shared
backbone and neck transfer and only the differing head tensors keep their fresh initialisation.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import torch

log = logging.getLogger("segctl.nn")


def transfer_weights(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> tuple[int, int]:
    """Copy matching tensors from ``state_dict`` into ``model``; return ``(transferred, total)``."""
    own = model.state_dict()
    matched = {
        k: v.to(dtype=own[k].dtype) for k, v in state_dict.items()
        if k in own and isinstance(v, torch.Tensor) and v.shape == own[k].shape
    }
    model.load_state_dict(matched, strict=False)
    log.info("Transferred %d/%d items from pretrained weights", len(matched), len(own))
    return len(matched), len(own)
