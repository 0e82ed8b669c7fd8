"""The SavedModel exporter: the ONNX artifact (``after=("onnx",)``) converted by onnx2tf.

Why from ONNX: the ONNX graph is already verified against PyTorch, and onnx2tf is the maintained
converter that yields a clean NHWC graph (what TFLite, Edge TPU and TF.js want downstream). The
SavedModel takes ``images`` [B,H,W,3] float 0..1 RGB and returns ``output0`` [B, 4+nc+32, N] and
``output1`` [B, 32, H/4, W/4] exactly as the ONNX default layout; ``metadata.yaml`` sits inside the
folder; ``keras=True`` adds ``model.keras`` (tf_keras) with the same outputs.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from segctl.export.base import Exporter
from segctl.export.metadata import write_yaml_metadata

from .convert import build_saved_model, find_permutations, onnx_outputs, onnx_to_keras, parts_model, save_keras
from .plugin import OPTIONS

KERAS_FILE = "model.keras"


def onnx_is_plain_fp32(path: Path, batch: int, imgsz: list[int]) -> bool:
    """True when the ONNX file has a float32 input of exactly ``[batch, 3, *imgsz]`` (no free axes)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    inp = proto.graph.input[0].type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.shape.dim]
    return inp.elem_type == onnx.TensorProto.FLOAT and dims == [batch, 3, *imgsz]


def fp32_static_onnx(model, args: dict, deps: dict, metadata: dict, workdir: Path) -> Path:
    """The ONNX artifact from the chain when it is a plain fp32 static graph; otherwise (a chain run
    with ``half=True`` or ``dynamic=True`` for the ONNX step) a private fp32 static export, because
    onnx2tf's output must be fp32 with fixed shapes for TFLite calibration and verification."""
    dep = deps.get("onnx")
    if dep is not None and onnx_is_plain_fp32(Path(dep), args["batch"], args["imgsz"]):
        return Path(dep)
    from segctl_export_onnx.exporter import OnnxExporter

    onnx_args = {"imgsz": args["imgsz"], "batch": args["batch"], "device": args.get("device", "cpu"), "half": False,
                 "dynamic": False, "nms": False, "simplify": True, "opset": None}
    return Path(OnnxExporter().export(model, workdir / "model.onnx", onnx_args, {}, dict(metadata)))


class SavedModelExporter(Exporter):
    """``<stem>_saved_model/`` folders (TensorFlow SavedModel, NHWC input)."""

    name = "saved_model"
    suffix = "_saved_model"
    options = OPTIONS
    after = ("onnx",)
    backend = "saved_model"
    is_dir = True
    tolerance = {"rtol": 1e-3, "atol": 2e-3, "iou": 0.99}

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        h, w = args["imgsz"]
        with tempfile.TemporaryDirectory(prefix="segctl-saved-model-") as tmp:
            onnx_path = fp32_static_onnx(model, args, deps, metadata, Path(tmp))
            keras_model = onnx_to_keras(onnx_path)
            x = np.random.default_rng(0).random((args["batch"], 3, h, w), dtype=np.float32)
            names, onnx_outs = onnx_outputs(onnx_path, x)
            x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
            tf_outs = keras_model(x_nhwc, training=False)
            tf_outs = [np.asarray(t) for t in (tf_outs if isinstance(tf_outs, (list, tuple)) else [tf_outs])]
            perms = find_permutations(tf_outs, onnx_outs)
            parts = parts_model(keras_model, x_nhwc, perms[0]) if len(names) > 1 else None
        output.mkdir(parents=True, exist_ok=True)
        build_saved_model(keras_model, perms, names, output, parts=parts)
        if args.get("keras"):
            save_keras(keras_model, perms, names, output / KERAS_FILE)
        metadata["preprocess"] = {**metadata.get("preprocess", {}), "layout": "NHWC"}
        metadata["outputs"] = names
        write_yaml_metadata(output, metadata)
        return output
