"""Frozen spec objects returned by the registration hooks.

Why specs and not objects: registration must stay cheap. A spec names its implementation as a
``"module:attr"`` string and lists what it ``requires`` (importable module names), so that
``segctl --help`` and ``segctl plugins`` can show every capability without importing torch,
TensorFlow or any other heavy runtime. The implementation is imported only by :meth:`Spec.load`.
"""
from __future__ import annotations

import importlib
import importlib.util
import shutil
from dataclasses import dataclass, field
from typing import Any

from .errors import MissingDependencyError, PluginError


@dataclass(frozen=True)
class Spec:
    """Base of every registered capability.

    ``name``: unique within its kind. ``target``: ``"package.module:attr"`` (attr may be dotted).
    ``requires``: import names that must be importable (``"onnxruntime"``). ``install``: the pip
    command that provides them (shown verbatim in errors). ``programs``: executables that must be
    on PATH (a closed compiler, say), with ``programs_install`` saying how to get them — so a format
    that cannot finish is listed as unavailable up front instead of failing after minutes of work.
    ``description``: one line for tables.
    ``plugin``/``dist``/``version`` are filled in by the registry (who provided it).
    """

    name: str
    target: str
    requires: tuple[str, ...] = ()
    install: str = ""
    description: str = ""
    programs: tuple[str, ...] = ()
    programs_install: str = ""
    plugin: str = field(default="", compare=False)
    dist: str = field(default="", compare=False)
    version: str = field(default="", compare=False)

    kind = "capability"

    def missing(self) -> list[str]:
        """Import names from ``requires`` that cannot be found (no import is performed)."""
        out = []
        for mod in self.requires:
            try:
                if importlib.util.find_spec(mod) is None:
                    out.append(mod)
            except (ImportError, ValueError):
                out.append(mod)
        return out + [f"program {p}" for p in self.programs if shutil.which(p) is None]

    @property
    def available(self) -> bool:
        return not self.missing()

    def install_hint(self) -> str:
        missing = self.missing()
        if missing and self.programs_install and all(m.startswith("program ") for m in missing):
            return self.programs_install
        return self.install or ("pip install " + " ".join(m for m in (missing or self.requires) if " " not in m))

    def load(self) -> Any:
        """Import and return the target; a missing dependency raises :class:`MissingDependencyError`."""
        missing = self.missing()
        if missing:
            raise MissingDependencyError(
                f"{self.kind} '{self.name}' needs {', '.join(missing)}, which is not installed",
                hint=self.install_hint(),
            )
        return load_target(self.target, who=f"{self.kind} '{self.name}' from plugin '{self.plugin}'")


def load_target(target: str, who: str = "") -> Any:
    """Resolve ``"module:attr.sub"``; errors name the provider so a broken plugin is attributable."""
    modname, _, attr = target.partition(":")
    try:
        obj = importlib.import_module(modname)
    except ImportError as e:
        raise PluginError(f"cannot import {modname!r} for {who or target}: {e}") from e
    for part in filter(None, attr.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError as e:
            raise PluginError(f"{who or target}: {modname} has no attribute {attr!r}") from e
    return obj


@dataclass(frozen=True)
class TaskSpec(Spec):
    """A task (``segment``). ``target`` is a class with one method per mode, each taking
    ``(cfg: dict, session)``. ``schema`` names a *light* module attribute (a list of
    :class:`segctl.config.Option`) so the CLI validates keys without importing the task."""

    schema: str = ""
    modes: tuple[str, ...] = ("train", "val", "predict")
    kind = "task"


@dataclass(frozen=True)
class LayerSpec(Spec):
    """A layer type usable in model YAML files (``Conv``, ``C2f``, ``Segment``). ``task`` is set
    on head layers: a YAML whose last layer is this type builds a model for that task."""

    task: str = ""
    kind = "layer"


@dataclass(frozen=True)
class ModelConfigSpec(Spec):
    """A named model configuration (``yolov8n-seg``). ``target`` is ``"package:relative/file.yaml"``
    (a data file inside an installed package); ``scale`` picks a row of the YAML's ``scales``."""

    task: str = ""
    scale: str = ""
    kind = "model"

    def path(self) -> str:
        """Absolute path of the YAML file, found without importing the package."""
        pkg, _, rel = self.target.partition(":")
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise PluginError(f"model config '{self.name}': package {pkg!r} not found")
        import os

        return os.path.join(list(spec.submodule_search_locations)[0], rel)


@dataclass(frozen=True)
class DatasetFormatSpec(Spec):
    """A dataset format (``yolo``, ``coco``). ``target`` is an object with
    ``load(data: dict, split: str, *, task: str, nc_check: bool = True, strict: bool = False) -> DatasetIndex``
    and ``check_config(data: dict) -> dict`` (see docs/hooks.md)."""

    kind = "dataset format"


@dataclass(frozen=True)
class DatasetSpec(Spec):
    """A named dataset (``shapes-seg``). ``target`` is a callable ``(root: str | None) -> str``
    that makes the dataset if needed and returns the path of its dataset YAML."""

    task: str = "segment"
    kind = "dataset"


@dataclass(frozen=True)
class ExporterSpec(Spec):
    """An export format. ``target`` is a class (see :mod:`segctl.export`). ``suffix`` is the artifact
    suffix appended to the model stem (``.onnx``, ``_openvino_model``). ``options`` are the export
    keys it accepts; ``after`` the formats it builds on (resolved by the core, in order)."""

    aliases: tuple[str, ...] = ()
    suffix: str = ""
    options: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    backend: str = ""
    kind = "exporter"


@dataclass(frozen=True)
class BackendSpec(Spec):
    """A runtime that loads an exported artifact for predict/val. ``suffixes`` match file or folder
    names (``.onnx``, ``_openvino_model``). ``target`` is a class ``(path, device, session)`` with
    ``__call__(images: np.ndarray|torch.Tensor NCHW float 0-1) -> list of outputs`` and ``metadata``."""

    suffixes: tuple[str, ...] = ()
    kind = "backend"


@dataclass(frozen=True)
class CommandSpec(Spec):
    """An extra top-level CLI command. ``target`` is a ``typer.Typer`` (added as a group) or a
    function (added as a command); imported only when the CLI is built."""

    group: bool = False
    kind = "command"


@dataclass(frozen=True)
class RunnerSpec(Spec):
    """Where a task mode runs: ``local`` (in this process, the built-in one) or elsewhere (a
    cluster). ``target`` is a class built with no arguments whose ``run(task, mode, cfg, session)``
    returns the mode's result; runners other than ``local`` drive the task's job (see
    :mod:`segctl.runners` and docs/hooks.md). ``modes`` are the modes it can run."""

    modes: tuple[str, ...] = ("predict", "val")
    kind = "runner"


@dataclass(frozen=True)
class TrackerSpec(Spec):
    """A multi-object tracker for the ``track`` mode (``tracker=bytetrack``). ``target`` is a class
    ``(cfg: dict, frame_rate: float)`` with ``update(boxes, scores, classes, masks=None,
    image=None) -> rows [m, 8]`` and ``reset()`` (see docs/hooks.md). ``config`` is the packaged
    YAML of defaults, ``"package:relative/file.yaml"``, found without importing the package;
    ``aliases`` are other names (``bytetrack.yaml``)."""

    config: str = ""
    aliases: tuple[str, ...] = ()
    kind = "tracker"

    def config_path(self) -> str:
        """Absolute path of the defaults YAML (``""`` when the tracker has none)."""
        if not self.config:
            return ""
        pkg, _, rel = self.config.partition(":")
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise PluginError(f"tracker '{self.name}': package {pkg!r} not found")
        import os

        return os.path.join(list(spec.submodule_search_locations)[0], rel)


SPEC_KINDS = {
    "tasks": TaskSpec,
    "layers": LayerSpec,
    "models": ModelConfigSpec,
    "dataset_formats": DatasetFormatSpec,
    "datasets": DatasetSpec,
    "exporters": ExporterSpec,
    "backends": BackendSpec,
    "commands": CommandSpec,
    "runners": RunnerSpec,
    "trackers": TrackerSpec,
}
