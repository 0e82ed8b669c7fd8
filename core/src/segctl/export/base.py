"""The exporter base class every format plugin subclasses.

Why a base class and not only a spec: the spec (:class:`segctl.specs.ExporterSpec`) is what the
registry shows without importing anything; the class is the code that runs once the format is
chosen. Class attributes mirror the spec so that an exporter can be used (and tested) without a
registry, and so that the format's tolerances live next to the code that produces the artifact.

The core (``segctl.export.run``) does everything format-independent: option validation, the
``after=`` chain, output naming, the NaN check, atomic writes, verification and the hook call.
A subclass only implements :meth:`Exporter.export` (write the artifact) and, when the format
keeps metadata somewhere other than a ``metadata.yaml`` beside it, :meth:`write_metadata`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar


class Exporter(ABC):
    """One export format.

    Class attributes (mirroring the spec): ``name``, ``suffix`` (``.onnx``, ``_openvino_model``),
    ``options`` (the export keys accepted), ``after`` (formats whose artifacts ``export`` needs),
    ``backend`` (the backend spec that runs the artifact for verification), ``is_dir`` (the
    artifact is a folder). ``tolerance`` / ``tolerance_half`` / ``tolerance_int8`` bound the parity
    check: raw outputs must satisfy ``|a - b| <= atol + rtol * |b|`` and binarised masks must reach
    IoU ``iou`` (int8 falls back to ``tolerance_half`` when a format sets no ``tolerance_int8``).
    ``int8_parity_note``: set it where int8 parity can only inform (per-tensor quantised outputs
    drift elementwise while the mAP holds); a miss is then a warning and the note travels with the
    parity record instead of failing the export.
    """

    name: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    options: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()
    backend: ClassVar[str] = ""
    is_dir: ClassVar[bool] = False
    tolerance: ClassVar[dict[str, float]] = {"rtol": 1e-3, "atol": 1e-3, "iou": 0.99}
    tolerance_half: ClassVar[dict[str, float]] = {"rtol": 2e-2, "atol": 5e-2, "iou": 0.9}
    tolerance_int8: ClassVar[dict[str, float] | None] = None
    int8_parity_note: ClassVar[str | None] = None

    def __init__(self, spec: Any = None, session: Any = None):
        self.spec = spec
        self.session = session

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def export(self, model: Any, output: Path, args: dict, deps: dict[str, Path], metadata: dict) -> Path:
        """Write the artifact for ``model`` (an eval-mode ``nn.Module`` in fp32 on ``args['device']``).

        :param output: where to write (a temporary name in the final folder; the core renames it
            atomically once the artifact has verified). Folder formats create this folder.
        :param args: validated options with defaults filled in (``imgsz`` is ``[h, w]``).
        :param deps: artifacts of the ``after=`` formats, by format name.
        :param metadata: the metadata dict to embed (see :mod:`segctl.export.metadata`).
        :return: the path written (normally ``output``).
        """

    # ------------------------------------------------------------------ optional overrides
    def write_metadata(self, path: Path, metadata: dict) -> None:
        """Store ``metadata`` in the artifact (called again after verification adds ``parity``).
        Default: ``metadata.yaml`` inside a folder artifact, else beside the file."""
        from .metadata import write_yaml_metadata

        write_yaml_metadata(path if self.is_dir else path.parent, metadata, stem=None if self.is_dir else path.name)

    def verify(self, artifact: Path, model: Any, args: dict, metadata: dict) -> dict:
        """Run ``artifact`` in its runtime and compare with ``model``; return the parity dict.
        The default uses the backend named by :attr:`backend` (see :mod:`segctl.export.verify`)."""
        from .verify import verify_artifact

        backend = self.backend or self.name
        if args.get("int8") and self.tolerance_int8 is not None:
            if self.int8_parity_note:
                parity = verify_artifact(artifact, model, {**args, "verify": "warn"}, self.session,
                                         tolerance=self.tolerance_int8, backend=backend)
                return {**parity, "note": self.int8_parity_note}
            return verify_artifact(artifact, model, args, self.session, tolerance=self.tolerance_int8, backend=backend)
        tol = self.tolerance_half if args.get("half") or args.get("int8") else self.tolerance
        return verify_artifact(artifact, model, args, self.session, tolerance=tol, backend=backend)

