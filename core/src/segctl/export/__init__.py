"""``segctl.export``: the export contract shared by every format plugin.

Modules (each one concept): :mod:`.base` (the :class:`Exporter` class plugins subclass),
:mod:`.chain` (``after=`` resolution), :mod:`.options` (option validation), :mod:`.metadata`
(what every artifact carries), :mod:`.verify` (parity with PyTorch), :mod:`.e2e` (the ``nms=True``
wrapper), :mod:`.run` (:func:`export`), :mod:`.backends` (:func:`load_backend`),
:mod:`.benchmark` (:func:`benchmark`), :mod:`.testing` (conformance checks for plugin authors).

Importing this package is cheap: names resolve on first access and torch is imported only inside
the functions that need it.
"""
from __future__ import annotations

_EXPORTS = {
    "export": "run", "load_model": "run",
    "Exporter": "base",
    "Backend": "backends", "load_backend": "backends",
    "resolve_chain": "chain", "find_exporter": "chain",
    "validate": "options",
    "build_metadata": "metadata",
    "verify_artifact": "verify",
    "benchmark": "benchmark",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'segctl.export' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
