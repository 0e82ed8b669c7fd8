"""Which runtime runs a model for predict and stand-alone val: the ``backend=`` key.

- ``auto`` (default): on a CPU, a ``.pt`` checkpoint runs compiled (:mod:`.fastpath`: ONNX
  Runtime, or OpenVINO where installed and measured faster); if compiling, verifying or caching
  fails it warns once and runs PyTorch. On a GPU, and for in-memory or exported models, it is
  what the model's own format runs on.
- ``torch``: PyTorch eager, as before the fast path existed.
- ``onnxruntime`` / ``openvino``: the compiled path on that runtime; errors are raised, not
  hidden, because the user asked for it.

The model comes from the configuration the facade built: ``model_object`` (an in-memory module:
training, a model changed after loading, a YAML), else ``model_handle`` (the facade's
:class:`segctl.Model`, whose ``.source``, ``.checkpoint`` and ``.model`` were loaded once and are
shared, so a predictor never reads the checkpoint again), else ``model`` (a path).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

CHOICES = ("auto", "torch", "onnxruntime", "openvino")
_CKPT = (".pt", ".pth", ".safetensors")


def model_source(cfg: dict) -> Any:
    """What to run: the in-memory module, the facade's handle, or the path (in that order)."""
    for key in ("model_object", "model_handle"):
        if cfg.get(key) is not None:
            return cfg[key]
    return cfg.get("model")


def checkpoint_path(cfg: dict) -> Path | None:
    """The checkpoint file behind the configuration's model, or None (module, artifact, YAML)."""
    if cfg.get("model_object") is not None:
        return None
    handle = cfg.get("model_handle")
    src = handle.source if handle is not None else cfg.get("model")
    path = Path(str(src)) if src is not None else None
    return path if path is not None and path.suffix in _CKPT and path.is_file() else None


def _imgsz(cfg: dict) -> int:
    v = cfg.get("imgsz") or 640
    return int(max(v) if isinstance(v, (list, tuple)) else v)


def open_backend(cfg: dict, session: Any, device: Any) -> Any:
    """A ready backend for ``cfg`` on ``device`` (a ``torch.device``), honouring ``backend=``."""
    from segctl.errors import UsageError
    from segctl.export import load_backend

    from . import fastpath

    choice = str(cfg.get("backend") or "auto").lower()
    if choice not in CHOICES:
        import difflib

        close = difflib.get_close_matches(choice, CHOICES, n=1)
        raise UsageError(f"backend={choice!r} is not a backend" + (f" (did you mean {close[0]!r}?)" if close else ""),
                         hint=f"one of: {', '.join(CHOICES)}")
    src = model_source(cfg)
    if src is None:
        raise UsageError("no model given", hint="pass model=best.pt (or an exported artifact)")
    handle = cfg.get("model_handle")
    ckpt = checkpoint_path(cfg)

    def torch_backend():
        module = handle.model if handle is not None and ckpt is not None else src
        return load_backend(module if not isinstance(module, Path) else str(module), session, device=str(device))

    if choice in ("onnxruntime", "openvino"):
        if ckpt is None:
            what = "an in-memory model" if cfg.get("model_object") is not None else str(cfg.get("model"))
            raise UsageError(f"backend={choice} compiles a PyTorch checkpoint; {what} is not one",
                             hint="drop backend= (exported artifacts run on their own runtime; in-memory models on "
                                  "PyTorch), or export the model and predict with the artifact")
        if device.type != "cpu":
            raise UsageError(f"backend={choice} is the CPU fast path, but device={device}",
                             hint="use backend=torch on a GPU (or export format=engine for TensorRT)")
        return fastpath.compiled_backend(ckpt, session, choice, _module_of(handle), _imgsz(cfg))
    # end2end=True switches the head of the in-memory model to its one-to-one branch: the compiled
    # artifact is the default export, so that mode runs on PyTorch
    if choice == "torch" or ckpt is None or device.type != "cpu" or cfg.get("end2end"):
        if choice == "torch" and ckpt is None and not _is_pytorch_source(src):
            raise UsageError(f"backend=torch runs PyTorch models; {cfg.get('model')} is an exported artifact",
                             hint="drop backend= (the artifact runs on its own runtime)")
        return torch_backend()
    try:
        backend, _ = fastpath.auto_backend(ckpt, session, _module_of(handle), _imgsz(cfg))
        return backend
    except Exception as e:  # noqa: BLE001 - any failure of the optional fast path falls back, loudly
        from segctl.errors import SegctlError

        if not isinstance(e, (OSError, SegctlError, RuntimeError, ValueError)):
            raise
        warnings.warn(f"the compiled CPU fast path is unavailable for {ckpt.name} ({type(e).__name__}: {e}); "
                      "running PyTorch (backend=torch silences this)", RuntimeWarning, stacklevel=2)
        return torch_backend()


def _module_of(handle: Any):
    return (lambda: handle.model) if handle is not None else None


def _is_pytorch_source(src: Any) -> bool:
    if not isinstance(src, (str, Path)):
        return True  # a module or a facade handle
    return Path(str(src)).suffix in (*_CKPT, ".yaml", ".yml")
