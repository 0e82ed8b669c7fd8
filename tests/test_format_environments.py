"""Format environments (segctl.export.environments): a format named to run in another interpreter
(``SEGCTL_PYTHON_<FORMAT>`` or ``formats.yaml``) is exported, verified and run there, through the
same ``export`` / ``load_backend`` / ``Model.predict`` calls, with the same errors.

The "other environment" here is a wrapper script around this interpreter that records each start
(what a real second venv would do, minus the different packages), and the format is ONNX, which
CI always has; the CoreML suite runs the same mechanism with a real second venv (make test)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from segctl.errors import CheckpointError, MissingDependencyError, UsageError
from segctl.export import environments as envs

FIX = Path(__file__).resolve().parent / "fixtures" / "ultralytics"


@pytest.fixture
def other_python(tmp_path, monkeypatch):
    """A wrapper interpreter that appends its ``-c`` code's entry point to a log, then runs Python."""
    log = tmp_path / "starts.log"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$2" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.delenv(envs.CHILD_FLAG, raising=False)
    monkeypatch.setenv("SEGCTL_CONFIG_DIR", str(tmp_path / "config"))
    return wrapper, log


def test_where_a_format_runs(tmp_path, monkeypatch, other_python):
    wrapper, _ = other_python
    assert envs.where("coreml") == (None, "here")
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "formats.yaml").write_text(f"coreml: {{python: {wrapper}}}\nmy-format: rel/python\n")
    assert envs.where("coreml") == (str(wrapper), str(cfg / "formats.yaml"))
    assert envs.interpreter_for("my-format") == str(cfg / "rel" / "python")  # relative to the file
    monkeypatch.setenv("SEGCTL_PYTHON_MY_FORMAT", "/elsewhere/python")  # the variable wins
    assert envs.where("my-format") == ("/elsewhere/python", "SEGCTL_PYTHON_MY_FORMAT")
    monkeypatch.setenv("SEGCTL_PYTHON_COREML", sys.executable)  # this very interpreter: local
    assert envs.interpreter_for("coreml") is None
    monkeypatch.setenv(envs.CHILD_FLAG, "1")  # inside a format environment: never delegate again
    assert envs.interpreter_for("my-format") is None


def test_malformed_formats_yaml_names_the_entry(tmp_path, other_python):
    cfg = tmp_path / "config"
    cfg.mkdir()
    (cfg / "formats.yaml").write_text("coreml: {pyhton: /x}\n")
    with pytest.raises(UsageError, match="entry 'coreml' names no interpreter"):
        envs.interpreter_for("coreml")


@pytest.mark.slow
def test_export_verify_and_predict_run_in_the_named_environment(tmp_path, monkeypatch, other_python, segctl_session):
    from segctl import YOLO
    from segctl.export import export, load_backend

    wrapper, log = other_python
    src = tmp_path / "best.pt"
    src.write_bytes((FIX / "yolov8n-seg-shapes.pt").read_bytes())
    monkeypatch.setenv("SEGCTL_PYTHON_ONNX", str(wrapper))
    out = export(str(src), segctl_session, format="onnx", imgsz=96)
    assert out == tmp_path / "best.onnx" and out.is_file()
    assert "_export_main" in log.read_text()  # exported (and verified) by the other interpreter
    remote = load_backend(out, segctl_session)
    assert isinstance(remote, envs.RemoteBackend) and "_serve_main" in log.read_text()
    assert remote.metadata["names"][0] == "circle" and remote.metadata["parity"]["passed"]
    import torch

    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    pred, proto = remote(x)
    monkeypatch.delenv("SEGCTL_PYTHON_ONNX")
    lp, lq = load_backend(out, segctl_session)(x)  # the same artifact run here
    np.testing.assert_array_equal(pred.numpy(), lp.numpy())
    np.testing.assert_array_equal(proto.numpy(), lq.numpy())
    image = str(FIX / "images" / "000000.jpg")
    (here,) = YOLO(str(out), session=segctl_session).predict(image, imgsz=96)
    monkeypatch.setenv("SEGCTL_PYTHON_ONNX", str(wrapper))
    (there,) = YOLO(str(out), session=segctl_session).predict(image, imgsz=96)
    assert len(here.boxes) == len(there.boxes) > 0
    np.testing.assert_array_equal(here.boxes.xyxy.numpy(), there.boxes.xyxy.numpy())
    remote.close()


def test_an_in_memory_model_travels_as_a_checkpoint(tmp_path, monkeypatch, other_python, segctl_session, tiny_seg_model):
    from segctl.export import export

    wrapper, log = other_python
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEGCTL_PYTHON_TORCHSCRIPT", str(wrapper))
    seen = []
    monkeypatch.setattr(segctl_session, "emit", lambda hook, **kw: seen.append((hook, kw)))
    out = export(tiny_seg_model, segctl_session, format="torchscript", imgsz=64)
    assert out == tmp_path / "model.torchscript" and out.is_file() and "_export_main" in log.read_text()
    ((hook, kw),) = seen  # the export-end hook fires here too, with the other environment's metadata
    assert hook == "on_export_end" and kw["exporter"] is None and kw["path"] == out
    assert kw["metadata"]["format"] == "torchscript" and kw["metadata"]["names"] == {0: "class0", 1: "class1", 2: "class2"}


def test_errors_keep_their_class_message_and_hint(tmp_path, monkeypatch, other_python, segctl_session):
    from segctl.export import load_backend

    wrapper, _ = other_python
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(CheckpointError) as here:
        load_backend(bad, segctl_session)
    monkeypatch.setenv("SEGCTL_PYTHON_ONNX", str(wrapper))
    with pytest.raises(CheckpointError) as there:
        load_backend(bad, segctl_session)
    assert (there.value.message, there.value.hint) == (here.value.message, here.value.hint)


def test_missing_interpreter_is_exit_3_naming_the_setting(tmp_path, monkeypatch, segctl_session):
    from segctl.export import export

    monkeypatch.delenv(envs.CHILD_FLAG, raising=False)
    monkeypatch.setenv("SEGCTL_PYTHON_ONNX", str(tmp_path / "no-such-venv" / "bin" / "python"))
    with pytest.raises(MissingDependencyError, match="SEGCTL_PYTHON_ONNX") as info:
        export(str(FIX / "yolov8n-seg-shapes.pt"), segctl_session, format="onnx", output=str(tmp_path / "x.onnx"))
    assert info.value.exit_code == 3 and not (tmp_path / "x.onnx").exists()


def test_formats_table_has_an_environment_column(monkeypatch, other_python, segctl_session, segctl_cli):
    from rich.console import Console

    from segctl.cli.export_cmd import formats_table

    wrapper, log = other_python
    monkeypatch.setenv("SEGCTL_PYTHON_TORCHSCRIPT", str(wrapper))
    console = Console(width=400, record=True)
    console.print(formats_table(segctl_session))
    lines = console.export_text().splitlines()
    assert "environment" in lines[2]
    row = next(line for line in lines if "format=torchscript" in line)
    assert f"{wrapper} (SEGCTL_PYTHON_TORCHSCRIPT)" in row and " yes " in row
    assert "_probe_main" in log.read_text()  # availability asked of that environment
    assert " here " in next(line for line in lines if "format=onnx" in line)
    code, out, _ = segctl_cli("export", "formats")
    assert code == 0 and "environment" in out
