"""``segctl.nn``: the generic torch side of segctl (graph models, checkpoints, weights, backend).

This is the only part of the core that uses torch, and even here it is imported lazily: names are
resolved on first access, so ``import segctl`` (and ``import segctl.nn``) stay torch-free.
"""
from __future__ import annotations

_EXPORTS = {
    "build_model": "parser", "GraphModel": "parser", "make_divisible": "parser", "LayerContext": "parser",
    "load_cfg": "parser",
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "make_checkpoint": "checkpoint",
    "model_from_checkpoint": "checkpoint", "clean_stray_temps": "checkpoint", "SAFE_GLOBALS_LOCK": "checkpoint",
    "transfer_weights": "transfer",
    "TorchBackend": "backend",
    "resolve_weights": "download",
    "build_from_session": "registry_helpers", "layers_from_session": "registry_helpers",
    "resolve_model_config": "registry_helpers", "read_foreign_from_session": "registry_helpers",
    "load_model_from_session": "registry_helpers",
    "fuse_conv_and_bn": "fuse", "model_info": "info", "gflops": "info",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'segctl.nn' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
