"""The TFLite exporter: the SavedModel (``after=("saved_model",)``) through ``TFLiteConverter``.

Why from the SavedModel with TensorFlow's own converter: the SavedModel is already verified and in
NHWC; the converter does fp16 weight storage (``half=True``) and full-integer quantisation with our
own calibration images (``int8=True``), so nothing is downloaded and the calibration set is the
user's data. int8 is converted from the SavedModel's ``serving_parts`` signature (``output0``
split into boxes / scores / coefficients, each quantised with its own scale; the backend joins
them). int8 keeps float32 input/output tensors (quantise/dequantise inside the model), so the
I/O stays the documented float layout; ``export_edgetpu`` builds the int8-I/O variant.

Verification: fp32 and fp16 are held to tolerances; int8 cannot match PyTorch elementwise (that is
what quantisation means), so its parity is recorded with ``passed`` computed but never fatal —
judge an int8 model by its mask mAP (``segctl benchmark``).
"""
from __future__ import annotations

from pathlib import Path

from segctl.export.base import Exporter
from segctl.export.metadata import write_yaml_metadata
from segctl_export_saved_model.convert import PARTS_SIGNATURE, SIGNATURE, has_signature

from . import flatbuffer_meta
from .calibration import calibration_batches
from .plugin import OPTIONS


def convert(saved_model: Path, args: dict, session, full_integer_io: bool = False) -> bytes:
    """TFLite flatbuffer bytes of ``saved_model`` at the precision asked for in ``args``."""
    import tensorflow as tf

    # int8 from the split signature: boxes, scores and coefficients each get their own int8 scale
    # (one scale for pixels and probabilities rounds every score to zero)
    sig = PARTS_SIGNATURE if args.get("int8") and has_signature(saved_model, PARTS_SIGNATURE) else SIGNATURE
    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[sig])
    if args.get("half"):
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif args.get("int8"):
        gen, _ = calibration_batches(args, session)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = gen
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if full_integer_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv.convert()


class TfliteExporter(Exporter):
    """``<stem>.tflite`` files (fp32, fp16 weights, or int8) with embedded metadata."""

    name = "tflite"
    suffix = ".tflite"
    options = OPTIONS
    after = ("saved_model",)
    backend = "tflite"
    tolerance = {"rtol": 1e-3, "atol": 2e-3, "iou": 0.99}
    tolerance_half = {"rtol": 2e-2, "atol": 0.25, "iou": 0.9}
    tolerance_int8 = {"rtol": 0.1, "atol": 4.0, "iou": 0.5}
    int8_parity_note = "int8: elementwise parity is informative only; judge by mask mAP"

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        data = convert(Path(deps["saved_model"]), args, self.session)
        self._finish(output, data, metadata, {"io": "float32"})
        return output

    def _finish(self, output: Path, data: bytes, metadata: dict, quant: dict) -> None:
        metadata["preprocess"] = {**metadata.get("preprocess", {}), "layout": "NHWC"}
        metadata["quantization"] = quant
        output.write_bytes(flatbuffer_meta.embed(data, metadata))
        write_yaml_metadata(output.parent, metadata, stem=output.name)

    def write_metadata(self, path: Path, metadata: dict) -> None:
        path.write_bytes(flatbuffer_meta.embed(path.read_bytes(), metadata))
        write_yaml_metadata(path.parent, metadata, stem=path.name)
