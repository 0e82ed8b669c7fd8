"""The ncnn exporter: ONNX artifact → PNNX → ``model.ncnn.param`` + ``model.ncnn.bin``.

Why from ONNX and not from TorchScript (the reference's route): the chain's ONNX step is exported
at a fixed size and simplified, so the anchor grid of the detection head is folded into constants;
a TorchScript trace keeps it as ``arange``/``meshgrid``/``stack`` ops computed from the input shape,
which PNNX reports as unsupported for ncnn and drops. The ONNX graph is also the one already
verified against PyTorch. PNNX writes several side files (``.pnnx.param``, ``_pnnx.py``, a
simplified ONNX copy...): it runs in a private temporary folder and only the ncnn pair is kept.

``half=True`` stores fp16 weights (PNNX ``fp16=1``); the backend then lets ncnn use fp16 storage.
The folder ``<stem>_ncnn_model/`` holds ``model.ncnn.param``, ``model.ncnn.bin``, ``metadata.yaml``.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from segctl.errors import ExportError
from segctl.export.base import Exporter

from .plugin import OPTIONS

PARAM, BIN = "model.ncnn.param", "model.ncnn.bin"
#: PNNX on a yolov8x-seg ONNX takes well under a minute; a hang must not block an export forever
TIMEOUT_S = 900


def onnx_input_type(onnx: Path) -> str:
    """``f16`` when the ONNX step was exported in half precision (PNNX must be told), else ``f32``."""
    import onnx as onnx_lib

    proto = onnx_lib.load(str(onnx), load_external_data=False)
    elem = proto.graph.input[0].type.tensor_type.elem_type
    return "f16" if elem == onnx_lib.TensorProto.FLOAT16 else "f32"


def pnnx_command(onnx: Path, work: Path, imgsz: list[int], half: bool) -> list[str]:
    import pnnx

    h, w = imgsz
    dtype = onnx_input_type(onnx)
    outputs = {"ncnnparam": PARAM, "ncnnbin": BIN, "ncnnpy": "model_ncnn.py", "pnnxparam": "model.pnnx.param",
               "pnnxbin": "model.pnnx.bin", "pnnxpy": "model_pnnx.py", "pnnxonnx": "model.pnnx.onnx"}
    return [pnnx.EXEC_PATH, str(onnx), f"inputshape=[1,3,{h},{w}]{dtype}", f"fp16={int(half)}",
            *(f"{k}={work / v}" for k, v in outputs.items())]


def fp32_onnx_args(args: dict) -> dict:
    """Options for a private fp32, static, batch-1 ONNX export (see :meth:`NcnnExporter._fp32_onnx`)."""
    return {"imgsz": list(args["imgsz"]), "batch": 1, "half": False, "dynamic": False, "nms": False,
            "simplify": args.get("simplify", True), "opset": args.get("opset"), "device": args.get("device", "cpu")}


class NcnnExporter(Exporter):
    """``<stem>_ncnn_model/`` folders (ncnn param/bin + metadata.yaml)."""

    name = "ncnn"
    suffix = "_ncnn_model"
    options = OPTIONS
    after = ("onnx",)
    backend = "ncnn"
    is_dir = True

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        with tempfile.TemporaryDirectory(prefix="segctl-pnnx-") as tmp:
            work = Path(tmp)
            onnx = work / "model.onnx"
            shutil.copyfile(deps["onnx"], onnx)
            if onnx_input_type(onnx) == "f16":
                self._fp32_onnx(model, onnx, args, metadata)
            cmd = pnnx_command(onnx, work, args["imgsz"], bool(args.get("half")))
            try:
                run = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=work)
            except subprocess.TimeoutExpired as e:
                raise ExportError(f"pnnx did not finish converting {deps['onnx']} within {TIMEOUT_S} s") from e
            if run.returncode != 0 or not (work / PARAM).is_file() or not (work / BIN).is_file():
                tail = (run.stderr or run.stdout or "").strip().splitlines()[-3:]
                raise ExportError(f"pnnx failed to convert {deps['onnx']} (exit {run.returncode}): {' | '.join(tail)}",
                                  hint="run with --debug; check that the ONNX export is static (no dynamic=True)")
            output.mkdir(parents=True, exist_ok=True)
            shutil.move(str(work / PARAM), output / PARAM)
            shutil.move(str(work / BIN), output / BIN)
        self.write_metadata(output, metadata)
        return output

    def _fp32_onnx(self, model, path: Path, args: dict, metadata: dict) -> None:
        """With ``half=True`` the chain's ONNX step is fp16, which PNNX cannot read (it aborts in
        pass_level3); the fp16 weights are made by PNNX itself, so it gets an fp32 graph instead."""
        from segctl_export_onnx.exporter import OnnxExporter

        OnnxExporter(None, self.session).export(model, path, fp32_onnx_args(args), {}, metadata)
