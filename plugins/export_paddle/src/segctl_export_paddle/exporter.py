"""The PaddlePaddle exporter: ONNX → X2Paddle → Paddle inference model (``model.json`` + ``model.pdiparams``).

Why a private ONNX copy: X2Paddle maps opsets 7–15 only, while the chain's ONNX step defaults to
opset 18; when the chain's graph is newer (or fp16), an opset-15 fp32 graph of the same model is
exported for X2Paddle alone, then adapted (see :mod:`.compat`). X2Paddle writes a generated Python
file and a pickled ``model.pdparams`` training checkpoint next to the inference model: it works in
a temporary folder and only the inference model (PIR ``model.json`` or legacy ``model.pdmodel``,
plus ``model.pdiparams``) is kept, with ``metadata.yaml``, in ``<stem>_paddle_model/``.
"""
from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

from segctl.errors import ExportError
from segctl.export.base import Exporter

from .compat import MAX_OPSET, drop_unit_dilations, install_onnx_mapping, opset_of
from .plugin import OPTIONS

KEEP = ("model.json", "model.pdmodel", "model.pdiparams")


def onnx_args(args: dict) -> dict:
    return {"imgsz": list(args["imgsz"]), "batch": int(args.get("batch", 1)), "half": False, "dynamic": False,
            "nms": False, "simplify": args.get("simplify", True), "opset": MAX_OPSET, "device": args.get("device", "cpu")}


def convert(onnx_path: Path, save_dir: Path) -> None:
    """X2Paddle's ONNX conversion steps, called directly: its ``onnx2paddle`` entry function checks
    ``onnx.version`` (gone from onnx) and can post usage statistics to a server; neither is wanted."""
    install_onnx_mapping()
    from x2paddle.decoder.onnx_decoder import ONNXDecoder
    from x2paddle.op_mapper.onnx2paddle.onnx_op_mapper import ONNXOpMapper
    from x2paddle.optimizer.optimizer import GraphOptimizer

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            mapper = ONNXOpMapper(ONNXDecoder(str(onnx_path), True, None))
            mapper.paddle_graph.build()
            GraphOptimizer(source_frame="onnx").optimize(mapper.paddle_graph)
            mapper.paddle_graph.gen_model(str(save_dir))
    except Exception as e:  # noqa: BLE001 - X2Paddle raises bare Exception/AssertionError
        tail = " | ".join(log.getvalue().strip().splitlines()[-2:])
        raise ExportError(f"X2Paddle could not convert {onnx_path.name}: {type(e).__name__}: {e}",
                          hint=f"its last output: {tail[-300:]}" if tail else "run with --debug") from e


class PaddleExporter(Exporter):
    """``<stem>_paddle_model/`` folders (Paddle inference model + metadata.yaml)."""

    name = "paddle"
    suffix = "_paddle_model"
    options = OPTIONS
    after = ("onnx",)
    backend = "paddle"
    is_dir = True

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        import onnx

        with tempfile.TemporaryDirectory(prefix="segctl-x2paddle-") as tmp:
            work = Path(tmp)
            src = work / "model.onnx"
            proto = onnx.load(str(deps["onnx"]))
            fp16 = proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
            if opset_of(proto) > MAX_OPSET or fp16:
                from segctl_export_onnx.exporter import OnnxExporter

                OnnxExporter(None, self.session).export(model, src, onnx_args(args), {}, metadata)
                proto = onnx.load(str(src))
            drop_unit_dilations(proto)
            onnx.save(proto, str(src))
            convert(src, work / "out")
            produced = work / "out" / "inference_model"
            kept = [name for name in KEEP if (produced / name).is_file()]
            if "model.pdiparams" not in kept or len(kept) < 2:
                raise ExportError(f"X2Paddle produced no inference model from {deps['onnx']}",
                                  hint="run with --debug and check its output")
            output.mkdir(parents=True, exist_ok=True)
            for name in kept:
                shutil.move(str(produced / name), output / name)
        self.write_metadata(output, metadata)
        return output
