"""The Edge TPU exporter: a full-integer TFLite model (int8 in and out), checked, then compiled.

Why this order: the compiler is a closed binary that only exists for x86-64 Linux from Coral's apt
repository; everything segctl controls — calibration on ``data=``, full-integer conversion, the
op/type checks — runs and is tested without it. Without the compiler the export stops with exit 3
and the exact commands to install it (nothing is installed at run time).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from segctl.errors import ExportError, MissingDependencyError
from segctl.export.base import Exporter
from segctl.export.metadata import write_yaml_metadata
from segctl_export_tflite import flatbuffer_meta
from segctl_export_tflite.exporter import convert

from .checks import inspect
from .plugin import COMPILER, INSTALL_COMPILER, OPTIONS



def full_integer_model(saved_model: Path, args: dict, session) -> tuple[bytes, dict]:
    """The int8-I/O TFLite bytes and their check report; a float tensor left is an :class:`ExportError`."""
    data = convert(saved_model, {**args, "int8": True, "half": False}, session, full_integer_io=True)
    report = inspect(data)
    if report["float_tensors"]:
        raise ExportError(f"the int8 model still has float tensors ({', '.join(report['float_tensors'][:5])}); "
                          "the Edge TPU compiler needs a full-integer model",
                          hint="the model uses an op TFLite cannot quantise; export format=tflite int8=True to inspect it")
    return data, report


def compile_edgetpu(model: Path, out_dir: Path) -> Path:
    """Run ``edgetpu_compiler`` on ``model``; return the ``*_edgetpu.tflite`` it wrote."""
    exe = shutil.which(COMPILER)
    if exe is None:
        raise MissingDependencyError(f"export format 'edgetpu' needs the {COMPILER} program, which is not on PATH",
                                     hint=INSTALL_COMPILER)
    proc = subprocess.run([exe, "-s", "-o", str(out_dir), str(model)], capture_output=True, text=True, check=False)
    compiled = out_dir / f"{model.stem}_edgetpu.tflite"
    if proc.returncode != 0 or not compiled.is_file():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise ExportError(f"{COMPILER} failed (exit {proc.returncode}): {' | '.join(tail)}",
                          hint="run the compiler by hand on the int8 model to see its full log")
    return compiled


class EdgeTpuExporter(Exporter):
    """``<stem>_edgetpu.tflite`` for Coral devices."""

    name = "edgetpu"
    suffix = "_edgetpu.tflite"
    options = OPTIONS
    after = ("saved_model",)
    backend = "edgetpu"

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        data, report = full_integer_model(Path(deps["saved_model"]), args, self.session)
        metadata.update(int8=True, quantization={"io": "int8"}, edgetpu={"cpu_ops": report["cpu_ops"], "ops": report["ops"]})
        metadata["preprocess"] = {**metadata.get("preprocess", {}), "layout": "NHWC"}
        with tempfile.TemporaryDirectory(prefix="segctl-edgetpu-") as tmp:
            plain = Path(tmp) / "model_int8.tflite"
            plain.write_bytes(data)
            compiled = compile_edgetpu(plain, Path(tmp))
            output.write_bytes(flatbuffer_meta.embed(compiled.read_bytes(), metadata))
        write_yaml_metadata(output.parent, metadata, stem=output.name)
        return output

    def write_metadata(self, path: Path, metadata: dict) -> None:
        path.write_bytes(flatbuffer_meta.embed(path.read_bytes(), metadata))
        write_yaml_metadata(path.parent, metadata, stem=path.name)

    def verify(self, artifact: Path, model, args: dict, metadata: dict) -> dict:
        """A compiled model runs only on an Edge TPU: verified when the delegate loads, else skipped
        (the int8 model before compilation is what ``format=tflite int8=True`` verifies)."""
        from .backend import delegate_available

        if not delegate_available():
            return {"passed": True, "skipped": "no Edge TPU runtime (libedgetpu) on this machine",
                    "max_abs_diff": float("nan"), "mask_iou": float("nan")}
        from segctl.export.verify import verify_artifact

        return verify_artifact(artifact, model, {**args, "verify": "warn"}, self.session,
                               tolerance={"rtol": 0.1, "atol": 4.0, "iou": 0.5}, backend=self.backend)
