"""Edge TPU export: full-integer model and op checks (real), compiler step with and without the binary."""
from __future__ import annotations

import os
import stat

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("onnx2tf")

from segctl.errors import MissingDependencyError  # noqa: E402
from segctl.export.run import export  # noqa: E402

FAKE_COMPILER = """#!/bin/sh
# stand-in for edgetpu_compiler: -s -o OUT_DIR MODEL -> OUT_DIR/<stem>_edgetpu.tflite
out="$3"; model="$4"; base=$(basename "$model" .tflite)
cp "$model" "$out/${base}_edgetpu.tflite"
"""


def test_without_compiler_exit_3_with_install_commands(tf_workdir, session, tiny, tiny_dataset, monkeypatch):
    monkeypatch.setenv("PATH", str(tf_workdir / "empty-bin"))
    with pytest.raises(MissingDependencyError) as info:
        export(tiny, session, format="edgetpu", imgsz=64, data=str(tiny_dataset), fraction=0.25,
               output=str(tf_workdir / "m_edgetpu.tflite"))
    assert info.value.exit_code == 3
    assert "apt-get install edgetpu-compiler" in info.value.hint
    assert not (tf_workdir / "m_edgetpu.tflite").exists()


def test_full_integer_model_compiled_and_described(tf_workdir, session, tiny, tiny_dataset, monkeypatch):
    from segctl_export_edgetpu.checks import inspect
    from segctl_export_tflite import flatbuffer_meta

    bindir = tf_workdir / "fake-bin"
    bindir.mkdir(exist_ok=True)
    exe = bindir / "edgetpu_compiler"
    exe.write_text(FAKE_COMPILER)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    out = export(tiny, session, format="edgetpu", imgsz=64, data=str(tiny_dataset), fraction=0.25,
                 output=str(tf_workdir / "m_edgetpu.tflite"))
    raw = out.read_bytes()
    report = inspect(raw)
    assert report["float_tensors"] == []
    assert set(report["io"].values()) == {"INT8"}
    assert "CONV_2D" in report["ops"]
    meta = flatbuffer_meta.read(raw)
    assert meta["int8"] is True and meta["edgetpu"]["cpu_ops"] == report["cpu_ops"]
    assert meta["parity"].get("skipped")  # no Edge TPU runtime here


def test_inspect_flags_float_tensors(tf_workdir, session, tiny):
    from segctl_export_edgetpu.checks import inspect

    fp32 = export(tiny, session, format="tflite", imgsz=64, output=str(tf_workdir / "f.tflite"))
    report = inspect(fp32.read_bytes())
    assert report["float_tensors"] and report["io"]
