"""The TF.js exporter: the SavedModel (``after=("saved_model",)``) through the ``tensorflowjs`` converter.

Why from the SavedModel: it is already NHWC and verified, and ``tensorflowjs``'s SavedModel route
freezes the serving signature, runs TensorFlow's graph optimiser and writes the documented
graph-model layout: ``model.json`` (topology, signature, weight manifest) plus binary weight
shards. ``half=True`` stores the weights as float16 and ``int8=True`` as affine uint8 (both
dequantised by the runtime when the model loads, so activations stay float32 and the I/O is the
same). segctl's metadata goes both into ``model.json``'s ``userDefinedMetadata.segctl`` (what a
browser app reads) and into ``metadata.yaml`` beside it.

Verification runs the written folder through :class:`~segctl_export_tfjs.backend.TfjsBackend`
(model.json + shards rebuilt into a TensorFlow graph), so what is compared with PyTorch is the
artifact itself. The plugin's tests also run it in TensorFlow.js on Node (``js/run_model.cjs``).
"""
from __future__ import annotations

from pathlib import Path

from segctl.errors import MissingDependencyError
from segctl.export.base import Exporter
from segctl.export.metadata import write_yaml_metadata
from segctl_export_saved_model.convert import SIGNATURE

from .plugin import INSTALL, OPTIONS

MODEL_JSON = "model.json"


def _converter():
    """``convert_tf_saved_model`` from tensorflowjs, or exit 3 naming the environment that works."""
    try:
        from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model
    except Exception as e:  # noqa: BLE001 - ImportError, or a native-library clash of its dependencies
        raise MissingDependencyError(
            f"the tensorflowjs converter cannot be imported here ({type(e).__name__}: {e}); it needs "
            "TensorFlow 2.16 with tensorflow-decision-forests 1.9, which conflict with the other TF plugins",
            hint=INSTALL) from e
    return convert_tf_saved_model


def quantization_map(args: dict) -> dict | None:
    """The converter's ``quantization_dtype_map`` for ``half``/``int8`` (every weight: fallthrough)."""
    if args.get("int8"):
        return {"uint8": True}
    if args.get("half"):
        return {"float16": True}
    return None


def write_user_metadata(model_dir: Path, metadata: dict) -> None:
    """Put ``metadata`` under ``userDefinedMetadata.segctl`` in ``model.json`` (atomically)."""
    import json

    from segctl.io import atomic_write_text

    path = model_dir / MODEL_JSON
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec.setdefault("userDefinedMetadata", {})["segctl"] = json.loads(json.dumps(metadata, default=str))
    atomic_write_text(path, json.dumps(spec))


class TfjsExporter(Exporter):
    """``<stem>_web_model/`` folders: ``model.json``, ``group1-shard*of*.bin``, ``metadata.yaml``."""

    name = "tfjs"
    suffix = "_web_model"
    options = OPTIONS
    after = ("saved_model",)
    backend = "tfjs"
    is_dir = True
    tolerance = {"rtol": 1e-3, "atol": 2e-3, "iou": 0.99}
    tolerance_half = {"rtol": 2e-2, "atol": 0.25, "iou": 0.9}
    tolerance_int8 = {"rtol": 0.1, "atol": 4.0, "iou": 0.5}
    int8_parity_note = "uint8 weights: elementwise parity is informative only; judge by mask mAP"

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        convert = _converter()
        output.mkdir(parents=True, exist_ok=True)
        convert(str(deps["saved_model"]), str(output), signature_def=SIGNATURE, saved_model_tags="serve",
                quantization_dtype_map=quantization_map(args), strip_debug_ops=True)
        metadata["preprocess"] = {**metadata.get("preprocess", {}), "layout": "NHWC"}
        metadata["weights"] = "uint8" if args.get("int8") else "float16" if args.get("half") else "float32"
        self.write_metadata(output, metadata)
        return output

    def write_metadata(self, path: Path, metadata: dict) -> None:
        write_user_metadata(path, metadata)
        write_yaml_metadata(path, metadata)
