"""The Edge TPU backend: the LiteRT interpreter with the ``libedgetpu`` delegate.

Why a separate backend: a compiled model holds an ``edgetpu-custom-op`` that only the delegate can
run; without it the plain interpreter fails with an obscure error, so a missing runtime is exit 3
with the install command instead.
"""
from __future__ import annotations

from segctl.errors import MissingDependencyError
from segctl_export_tflite.backend import TfliteBackend, interpreter_class

LIBRARY = "libedgetpu.so.1"
INSTALL_RUNTIME = ("install the Edge TPU runtime from Coral's apt repository: sudo apt-get install libedgetpu1-std "
                   "(repository set-up as for edgetpu-compiler, see docs/export-tensorflow.md)")


def _load_delegate():
    import ctypes.util

    if ctypes.util.find_library("edgetpu") is None:  # checked first: a failed load_delegate warns on exit
        raise OSError(f"{LIBRARY} not found")
    try:
        from ai_edge_litert.interpreter import load_delegate
    except ImportError:
        import tensorflow as tf

        load_delegate = tf.lite.experimental.load_delegate
    return load_delegate(LIBRARY)


def delegate_available() -> bool:
    try:
        _load_delegate()
        return True
    except (ValueError, OSError, RuntimeError, ImportError):
        return False


class EdgeTpuBackend(TfliteBackend):
    def __init__(self, path, device="cpu", session=None):
        try:
            delegate = _load_delegate()
        except (ValueError, OSError, RuntimeError, ImportError) as e:
            raise MissingDependencyError(f"running {path} needs the Edge TPU runtime ({LIBRARY}): {e}",
                                         hint=INSTALL_RUNTIME) from e
        cls = interpreter_class()
        self._delegates = [delegate]
        super().__init__(path, device, session, interpreter=lambda **kw: cls(experimental_delegates=self._delegates, **kw))
