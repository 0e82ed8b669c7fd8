"""The Python facade: ``from segctl import YOLO`` (alias of :class:`Model`).

``Model`` only dispatches: it finds the task for a model source (a config name, a YAML, a
checkpoint or an exported artifact), merges keyword arguments into the task's schema and calls
the task plugin. It imports torch only when a method needs the network itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import UsageError
from .session import Session

_YAML = (".yaml", ".yml")
_CKPT = (".pt", ".pth", ".safetensors")


class Model:
    """A model handle. ``Model("yolov8n-seg.yaml")``, ``Model("best.pt")``, ``Model("best.onnx")``."""

    def __init__(self, model: str | Path = "yolov8n-seg.yaml", task: str | None = None,
                 session: Session | None = None, verbose: bool = False):
        from .threads import prefer_sleeping_threads

        prefer_sleeping_threads()  # before torch loads (see segctl.threads)
        self.session = session or Session.create()
        self.source = str(model)
        src = Path(self.source)
        if src.suffix in _CKPT and not src.exists() or self.source.startswith(("http://", "https://")):
            resolved = self.session.resolve_uri(self.source, "weights")
            if resolved:
                self.source = str(resolved)
            elif not src.exists():
                raise UsageError(f"model file not found: {self.source}",
                                 hint=f"check the path, or train from a config: model={src.stem}.yaml")
        self._module = None
        self._ckpt: dict | None = None
        self._modified = False  # weights changed in memory (load(), fuse()): runs as a module
        self._predictor = None  # kept between predict calls (see _predict_here)
        self.overrides: dict[str, Any] = {}
        self.task = task or self._infer_task()
        self.metrics = None
        self.trainer = None

    # ------------------------------------------------------------------ resolution
    def _config_spec(self):
        name = self.source[:-5] if self.source.endswith(".yaml") else self.source
        name = name[:-4] if name.endswith(".yml") else name
        return None if Path(self.source).exists() else self.session.registry.find("models", name)

    def _infer_task(self) -> str:
        spec = self._config_spec()
        if spec is not None:
            return spec.task
        tasks = self.session.task_names()
        src = Path(self.source)
        if src.suffix in _YAML and src.is_file():
            import yaml

            cfg = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
            head = (cfg.get("head") or cfg.get("backbone") or [[None, None, None]])[-1]
            layer = self.session.registry.find("layers", str(head[2]))
            if layer is not None and layer.task:
                return layer.task
        elif src.suffix in _CKPT and src.is_file():
            return str(self.checkpoint.get("task") or (tasks[0] if tasks else "segment"))
        elif not src.exists() and src.suffix in _YAML:
            raise UsageError(f"model not found: {self.source}",
                             hint="known configs: " + ", ".join(self.session.registry.names("models")))
        if len(tasks) == 1:
            return tasks[0]
        if "segment" in tasks:
            return "segment"
        raise UsageError(f"cannot tell the task of {self.source}", hint="pass task=... explicitly")

    @property
    def checkpoint(self) -> dict:
        """The plain checkpoint dict of a ``.pt``/``.safetensors`` source (loaded safely, once)."""
        if self._ckpt is None:
            from .nn.checkpoint import load_checkpoint

            self._ckpt = load_checkpoint(self.source, session=self.session)
        return self._ckpt

    @property
    def model(self):
        """The ``torch.nn.Module`` (built from the YAML or rebuilt from the checkpoint)."""
        if self._module is None:
            from . import nn as segnn

            src = Path(self.source)
            if src.suffix in _CKPT:
                self._module = segnn.model_from_checkpoint(self.checkpoint, session=self.session)
                self._module.pt_path = self.source  # export names its artifact after the checkpoint
            elif src.suffix in _YAML or self._config_spec() is not None:
                self._module = segnn.build_from_session(self.source, self.session)
            else:
                raise UsageError(f"{self.source} is an exported artifact: it can predict and val, not train",
                                 hint="train from a .yaml or .pt model")
        return self._module

    @property
    def names(self) -> dict[int, str]:
        if self._predictor is not None:
            return dict(self._predictor.names)
        if self._module is not None or Path(self.source).suffix in _CKPT + _YAML or self._config_spec():
            return dict(self.model.names)
        from .export import load_backend

        return dict(load_backend(self.source, self.session).names)

    # ------------------------------------------------------------------ dispatch
    def _is_checkpoint(self) -> bool:
        return Path(self.source).suffix in _CKPT and Path(self.source).is_file()

    def _cfg(self, mode: str, kwargs: dict[str, Any], extra: dict[str, Any] | None = None) -> dict:
        """The resolved configuration of one call. ``extra`` holds values that are not configuration
        text (an in-memory source array). The model travels as ``model_object`` when it exists only
        in memory (training, a YAML, weights changed by ``load()``/``fuse()``); otherwise, for a
        checkpoint run here, as ``model_handle`` -- this object, whose checkpoint and module are read
        once and shared -- so that no call reads the file again."""
        schema = self.session.schema(self.task)
        cfg = schema.resolve({"model": self.source}, self.overrides, kwargs)
        cfg.update(mode=mode, task=self.task)
        local = (cfg.get("runner") or "local") == "local"
        if self._module is not None and (mode == "train" or self._modified or not self._is_checkpoint()):
            cfg["model_object"] = self._module
        elif local and mode in ("val", "predict", "track") and self._is_checkpoint():
            cfg["model_handle"] = self
        cfg.update(extra or {})
        return cfg

    def _run(self, mode: str, kwargs: dict[str, Any], extra: dict[str, Any] | None = None):
        from .runners import run_mode

        cfg = self._cfg(mode, kwargs, extra)
        return run_mode(self.session, self.task, mode, cfg)  # runner= picks where (default: here)

    def _reset(self) -> None:
        """Forget what was built from the old weights (after train/load/fuse)."""
        self._predictor = None

    def train(self, **kwargs):
        """Train; returns the metrics of the final validation (the trainer is ``self.trainer``)."""
        out = self._run("train", kwargs)
        self.trainer = out
        self._reset()
        best = getattr(out, "best", None)
        if best and Path(best).exists():
            self.source, self._module, self._ckpt, self._modified = str(best), None, None, False
        self.metrics = getattr(out, "metrics", out)
        return self.metrics

    def val(self, **kwargs):
        """Validate; returns the metrics object (``.box.map``, ``.seg.maps`` ...)."""
        self.metrics = self._run("val", kwargs)
        return self.metrics

    def predict(self, source=None, stream: bool = False, **kwargs):
        """Predict; a list of ``Results`` (or a generator with ``stream=True``). ``source`` may be a
        path, folder, glob, URL, video, webcam index, numpy array, PIL image, tensor or a list.
        With ``runner=`` another runner (``runner="ray"``) the result is that runner's summary of
        the output it wrote (see docs/scale-out.md)."""
        extra = {"stream": stream}
        kwargs.setdefault("save", False)  # as in the reference: Python predict saves only when asked
        kwargs.setdefault("batch", 1)  # frame by frame unless asked (latency; the schema's 16 is for val)
        if isinstance(source, (str, Path, int)):
            kwargs["source"] = str(source)
        elif source is not None:
            extra["source"] = source
        cfg = self._cfg("predict", kwargs, extra)
        task = self.session.task(self.task)
        if (cfg.get("runner") or "local") != "local" or not callable(getattr(task, "predictor", None)):
            from .runners import run_mode

            return run_mode(self.session, self.task, "predict", cfg)
        # here: the task's predictor is kept and reused while the model and backend stay the same
        self._predictor = task.predictor(cfg, self.session, self._predictor)
        return self._predictor(cfg.get("source"), stream=bool(stream))

    __call__ = predict

    def track(self, source=None, stream: bool = False, persist: bool = False, **kwargs):
        """Track objects through a video, stream, folder of frames or a single frame; like
        :meth:`predict`, with each result's ``boxes.id`` set (``tracker="bytetrack"`` or a YAML).

        ``persist=True`` keeps the trackers' state from the previous ``track`` call (feed a
        video frame by frame); ``persist=False`` (the default) starts afresh. The state is an
        opaque dict the task keeps its trackers in; the core only decides when it is new."""
        if not persist or getattr(self, "_track_state", None) is None:
            self._track_state = {}
        extra = {"stream": stream, "track_state": self._track_state}
        kwargs.setdefault("save", False)
        if isinstance(source, (str, Path, int)):
            kwargs["source"] = str(source)
        elif source is not None:
            extra["source"] = source
        return self._run("track", kwargs, extra)

    def export(self, **kwargs) -> str:
        """Export; returns the artifact path."""
        from .export import export

        use_module = self._module is not None or self._is_checkpoint()  # the checkpoint is read once
        return str(export(self.model if use_module else self.source, self.session, **kwargs))

    def load(self, weights: str | Path):
        """Transfer every tensor whose name and shape match from ``weights`` into this model."""
        from .nn.checkpoint import load_checkpoint
        from .nn.transfer import transfer_weights

        ckpt = load_checkpoint(str(weights), session=self.session)
        state = ckpt.get("ema") or ckpt.get("model") or {}
        transfer_weights(self.model, state)
        self._modified = True
        self._reset()
        return self

    def info(self, detailed: bool = False, imgsz: int = 640):
        return self.model.info(verbose=True, imgsz=imgsz)

    def fuse(self):
        self.model.fuse()
        self._modified = True
        self._reset()
        return self

    def __repr__(self) -> str:
        return f"Model(source={self.source!r}, task={self.task!r})"


YOLO = Model
