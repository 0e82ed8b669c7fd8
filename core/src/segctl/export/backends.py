"""Pick the runtime (backend) for a model file, exported artifact or in-memory model.

Why by suffix and metadata, never by guessing: the backend is chosen from the registered
:class:`segctl.specs.BackendSpec` suffixes (``.onnx``, ``.torchscript``, ``_openvino_model``), and
what the artifact is (task, names, stride, imgsz, layout) is read from its embedded metadata.
Predict and val use the same code for every artifact; only the backend differs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .chain import registered

#: model sources handled by the PyTorch backend (the ``segctl.nn`` one when registered)
PYTORCH_SUFFIXES = (".pt", ".pth", ".yaml", ".yml", ".safetensors")


class Backend:
    """Base for backends: subclasses set :attr:`metadata` in ``__init__(path, device, session)`` and
    implement ``__call__(x: torch.Tensor [B,3,H,W] float 0..1)`` returning ``(pred, proto)`` torch
    tensors on ``x``'s device — or, for ``nms=True`` artifacts, a dict of the five end-to-end outputs."""

    metadata: dict = {}
    device: str = "cpu"

    @property
    def names(self) -> dict[int, str]:
        return dict(self.metadata.get("names") or {})

    @property
    def stride(self) -> list[float]:
        """Strides of the detection levels (same type as ``segctl.nn.TorchBackend.stride``);
        the letterbox multiple is ``max(backend.stride)`` (also ``metadata['stride']``)."""
        strides = self.metadata.get("strides") or [self.metadata.get("stride", 32)]
        return [float(s) for s in strides]

    @property
    def task(self) -> str:
        return str(self.metadata.get("task", "segment"))

    @property
    def fp16(self) -> bool:
        return bool(self.metadata.get("half", False))

    @property
    def nms(self) -> bool:
        return bool(self.metadata.get("nms", False))

    @property
    def imgsz(self) -> list[int]:
        return list(self.metadata.get("imgsz") or [640, 640])

    @property
    def dynamic(self) -> bool:
        return bool(self.metadata.get("dynamic", False))

    def native(self, x: Any):
        """A zero-argument callable that runs the runtime itself on ``x`` (converted once, up front,
        to the runtime's input form) and returns its raw outputs -- what a user of that runtime
        would time. ``segctl benchmark`` and benchmarks/predict_speed.py compare it with
        ``backend(x)`` to show what segctl's wrapper costs. ``None``: the backend does not say."""
        return None


class ModuleBackend(Backend):
    """Runs an in-memory ``nn.Module`` as it is (no copy, no fusing): benchmarks and tests time
    exactly the module they were given."""

    def __init__(self, model: Any, device: str = "cpu", session: Any = None):
        from .metadata import model_names, model_strides

        self.model = model.train(False)
        self.device = str(device)
        strides = model_strides(model)
        self.metadata = {"task": str(getattr(model, "task", "segment")), "names": model_names(model),
                         "stride": int(max(strides)), "strides": strides, "half": False, "nms": False,
                         "dynamic": True, "imgsz": [640, 640], "format": "pytorch"}

    def __call__(self, x: Any):
        import torch

        from .e2e import split_outputs

        with torch.no_grad():
            return split_outputs(self.model(x))

    def native(self, x: Any):
        import torch

        def run():
            with torch.no_grad():
                return self.model(x)

        return run


def _is_module(obj: Any) -> bool:
    return not isinstance(obj, (str, os.PathLike)) and hasattr(obj, "forward") and hasattr(obj, "parameters")


def find_backend_spec(path: str | os.PathLike, session: Any) -> Any:
    """The backend spec whose suffix matches ``path`` (longest match wins)."""
    name = Path(path).name.lower().rstrip("/")
    if name.endswith(PYTORCH_SUFFIXES):
        return _by_name(session, "pytorch", path)
    best, best_len = None, -1
    for spec in registered(session, "backends"):
        for suffix in getattr(spec, "suffixes", ()):
            if name.endswith(suffix.lower()) and len(suffix) > best_len:
                best, best_len = spec, len(suffix)
    if best is None:
        known = sorted({s for spec in registered(session, "backends") for s in getattr(spec, "suffixes", ())})
        raise UsageError(f"no backend can run {path}: unrecognised model format",
                         hint=f"known model suffixes: {', '.join((*PYTORCH_SUFFIXES, *known))}")
    return best


def _by_name(session: Any, name: str, path: Any = None) -> Any:
    for spec in registered(session, "backends"):
        if spec.name == name:
            return spec
    if name == "pytorch":
        return None
    raise UsageError(f"backend {name!r} needed for {path} is not registered",
                     hint="install the plugin that provides it (see 'segctl plugins')")


def load_backend(path_or_model: Any, session: Any, device: str = "cpu", backend: str = "") -> Backend:
    """Return a ready backend for a path (file or folder) or an ``nn.Module``.

    :param backend: force a backend by name (verification uses the exporter's own backend).
    :raises UsageError: unknown suffix or missing file; :class:`MissingDependencyError` when the
        backend's runtime is not installed (with the install command). A backend whose format is
        set to run in another environment is a :class:`~segctl.export.environments.RemoteBackend`.
    """
    if _is_module(path_or_model):
        spec = _by_name(session, "pytorch") if session is not None else None
        return spec.load()(path_or_model, device, session) if spec else _torch_backend(path_or_model, device, session)
    path = Path(path_or_model)
    if not path.exists():
        if path.suffix in (".yaml", ".yml") and session is not None:
            # a registered configuration name (yolov8n-seg.yaml) runs with random weights, as in
            # training; an unknown one gets the registry's "did you mean" error
            from ..nn.registry_helpers import resolve_model_config

            resolve_model_config(str(path), session)
            return _torch_backend(str(path), device, session)
        raise UsageError(f"model file not found: {path}", hint="check the path (model=...)")
    spec = _by_name(session, backend, path) if backend else find_backend_spec(path, session)
    if spec is None:  # a .pt/.yaml and no plugin overrides the core's own torch backend
        return _torch_backend(str(path), device, session)
    from .environments import RemoteBackend, interpreter_for

    python = interpreter_for(spec.name)
    if python:  # the format's runtime lives in another environment: the backend runs there
        return RemoteBackend(python, spec.name, path, device)
    from .preload import torch_stack_first

    torch_stack_first()  # before the artifact's runtime loads its native libraries
    return spec.load()(str(path), device, session)


def _torch_backend(source: Any, device: str, session: Any) -> Any:
    from ..nn.backend import TorchBackend

    return TorchBackend(source, device, session)
