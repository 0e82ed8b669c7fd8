"""CoreML from an environment where coremltools cannot live (the main one: TensorFlow 2.21 beside it
segfaults, numpy 2.4 is above its cap), through the format environment named by
``SEGCTL_PYTHON_COREML`` (``make test-coreml`` sets it to ``.venv-coreml``): the CLI export runs and
verifies there, ``segctl export formats`` says where CoreML runs, int8/half exports come back with
their metadata, and predict reaches the CoreML backend there (on Linux it refuses with the same
usage error, exit 2, as inside that environment; on macOS it predicts)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON = os.environ.get("SEGCTL_PYTHON_COREML")
if not PYTHON:
    pytest.skip("no CoreML environment named (make install-coreml; make test-coreml sets SEGCTL_PYTHON_COREML)",
                allow_module_level=True)

FIX = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"


def _segctl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "segctl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def _metadata_there(package: Path) -> dict:
    """segctl's metadata of ``package``, read by coremltools in the CoreML environment."""
    code = ("import json, sys; from segctl_export_coreml.spec_check import read_metadata; "
            "print(json.dumps(read_metadata(sys.argv[1]), default=str))")
    out = subprocess.run([PYTHON, "-c", code, str(package)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    path = tmp_path_factory.mktemp("coreml-env")
    shutil.copy(FIX / "yolov8n-seg-shapes.pt", path / "best.pt")
    return path


@pytest.fixture(scope="module")
def exported(work):
    proc = _segctl("export", "model=best.pt", "format=coreml", "imgsz=64", cwd=work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return work / "best.mlpackage", proc


def test_main_environment_cannot_import_coremltools():
    import importlib.util

    assert importlib.util.find_spec("coremltools") is None  # so everything below ran in the other one


def test_cli_export_runs_and_verifies_there(exported):
    package, proc = exported
    assert package.is_dir() and (package / "Manifest.json").is_file()
    assert "coreml:" in proc.stderr and "verified" in proc.stderr
    meta = _metadata_there(package)
    assert meta["format"] == "coreml" and meta["nc"] == 7 and meta["imgsz"] == [64, 64]
    assert meta["parity"]["passed"] and meta["names"]["0"] == "circle"


def test_formats_table_names_the_environment(work):
    proc = _segctl("export", "formats", cwd=work)
    row = next(line for line in proc.stdout.splitlines() if "format=coreml" in line)
    assert PYTHON in row and "SEGCTL_PYTHON_COREML" in row and " yes " in row


@pytest.mark.parametrize("option", ["half", "int8"])
def test_reduced_precision_through_the_python_api(work, option):
    from segctl.export import export
    from segctl.session import Session

    out = export(str(work / "best.pt"), Session.create(), format="coreml", imgsz=64,
                 output=str(work / f"{option}.mlpackage"), **{option: True})
    meta = _metadata_there(out)
    assert meta[option] is True and meta["parity"]["passed"]


def test_predict_reaches_the_coreml_backend_there(work, exported):
    package, _ = exported
    proc = _segctl("segment", "predict", f"model={package}", f"source={FIX / 'images' / '000000.jpg'}", "imgsz=64",
                   cwd=work)
    if sys.platform == "darwin":
        assert proc.returncode == 0, proc.stderr[-2000:]
    else:
        assert proc.returncode == 2 and "only be run on macOS" in proc.stderr
