"""Native-library load order for foreign runtimes.

torchvision's ops import ``torch._dynamo``, which loads triton's native libraries. Loaded *after*
TensorFlow 2.21's, they segfault the process (seen here: a TFLite artifact validated fine when
PyTorch had run first, and crashed when TensorFlow came first). Importing the torch stack before
any exporter or backend of another runtime makes the order safe whatever the user runs first.
"""
from __future__ import annotations


def torch_stack_first() -> None:
    """Import torchvision's ops now, unless TensorFlow is already loaded (then importing triton would
    itself be the crash; processes that load both should call this first, as the TF plugins' test
    set-ups do)."""
    import sys

    if "tensorflow" in sys.modules and "torchvision.ops" not in sys.modules:
        return
    try:
        import torchvision.ops  # noqa: F401
    except Exception:  # noqa: BLE001 - torchvision is optional for the core; nothing to order then
        pass
