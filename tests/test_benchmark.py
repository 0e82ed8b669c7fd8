"""``segctl benchmark``: export to each requested format (each in its own process), verify, validate
and time; one row per format, saved as CSV; a format whose runtime is missing shows as such."""
import csv
from pathlib import Path

import pytest

from segctl.export.benchmark import benchmark

FIX = Path(__file__).resolve().parent / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"


@pytest.mark.slow
def test_benchmark_rows_and_csv(tmp_path, tiny_dataset):
    src = tmp_path / "best.pt"
    src.write_bytes(FIX.read_bytes())
    rows = benchmark(src, data=str(tiny_dataset), imgsz=96, formats="onnx,torchscript", runs=2)
    by = {r["format"]: r for r in rows}
    assert set(by) == {"pytorch", "onnx", "torchscript"}
    for name in ("pytorch", "onnx", "torchscript"):  # each also times its runtime's bare call
        assert by[name]["bare_ms"] > 0 and by[name]["ms_per_image"] > 0, by[name]
    for name in ("onnx", "torchscript"):
        assert by[name]["status"] == "ok", by[name]
        assert by[name]["max_abs_diff"] < 1e-3 and by[name]["size_mb"] > 1
        assert by[name]["mask_map50_95"] is not None and by[name]["ms_per_image"] > 0
        assert abs(by[name]["mask_map50_95"] - by["pytorch"]["mask_map50_95"]) <= 0.5  # points
    saved = list(csv.DictReader(open(tmp_path / "best_benchmark.csv")))
    assert [r["format"] for r in saved] == ["pytorch", "onnx", "torchscript"]


def test_format_row_runs_in_the_interpreter_named_for_it(tmp_path, monkeypatch):
    """``SEGCTL_PYTHON_<FORMAT>`` (the format environments of segctl.export.environments): a format
    whose runtime lives in another environment gets its benchmark row from that environment's Python."""
    import sys

    src = tmp_path / "best.pt"
    src.write_bytes(FIX.read_bytes())
    marker = tmp_path / "used"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("SEGCTL_PYTHON_ONNX", str(wrapper))
    rows = {r["format"]: r for r in benchmark(src, imgsz=64, formats="onnx", runs=1, show=False)}
    assert rows["onnx"]["status"] == "ok", rows["onnx"]
    assert marker.exists()
