"""TFLite export + LiteRT backend: fp32 parity, fp16, int8 calibrated on data=, metadata embedded."""
from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("onnx2tf")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from segctl.errors import UsageError  # noqa: E402
from segctl.export.backends import load_backend  # noqa: E402
from segctl.export.run import export  # noqa: E402


@pytest.fixture(scope="module")
def fp32(tf_workdir, session, tiny):
    return export(tiny, session, format="tflite", imgsz=64, output=str(tf_workdir / "m.tflite"))


def test_fp32_matches_torch_and_carries_metadata(fp32, session, tiny):
    from segctl_export_tflite import flatbuffer_meta

    meta = flatbuffer_meta.read(fp32.read_bytes())
    assert meta["names"] == {0: "class0", 1: "class1", 2: "class2"}
    assert meta["imgsz"] == [64, 64] and meta["parity"]["passed"]
    assert meta["parity"]["max_abs_diff"] < 1e-3
    backend = load_backend(fp32, session)
    x = torch.rand(3, 3, 64, 64)  # batch 3 through a batch-1 model: run in chunks
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = tiny(x)
    assert pred.shape == rp.shape and proto.shape == rq.shape
    assert torch.allclose(pred, rp, atol=1e-3, rtol=1e-3) and torch.allclose(proto, rq, atol=1e-3, rtol=1e-3)


def test_wrong_image_size_is_a_usage_error(fp32, session):
    with pytest.raises(UsageError, match="64x64"):
        load_backend(fp32, session)(torch.rand(1, 3, 96, 96))


def test_fp16_weights_verify(tf_workdir, session, tiny, fp32):
    out = export(tiny, session, format="tflite", imgsz=64, half=True, output=str(tf_workdir / "m16.tflite"))
    assert out.stat().st_size < 0.7 * fp32.stat().st_size
    assert load_backend(out, session).metadata["half"] is True


def test_int8_needs_data():
    from segctl_export_tflite.calibration import calibration_batches

    with pytest.raises(UsageError, match="data="):
        calibration_batches({"int8": True, "imgsz": [64, 64]}, None)


def test_int8_calibrated_on_dataset(tf_workdir, session, tiny, tiny_dataset, fp32):
    out = export(tiny, session, format="tflite", imgsz=64, int8=True, data=str(tiny_dataset), fraction=0.5,
                 output=str(tf_workdir / "m8.tflite"))
    backend = load_backend(out, session)
    assert backend.metadata["int8"] is True and "note" in backend.metadata["parity"]
    x = torch.rand(1, 3, 64, 64)
    pred, _ = backend(x)
    with torch.no_grad():
        ref, _ = tiny(x)
    # quantised, but in the same units: boxes within a few pixels on average
    assert float((pred[:, :4] - ref[:, :4]).abs().mean()) < 4.0
    # scores keep their own int8 scale (one scale shared with pixel boxes rounds them all to 0)
    assert float((pred[:, 4:7] - ref[:, 4:7]).abs().max()) < 0.05
    assert np.isfinite(pred.numpy()).all()
    assert set(backend._out) == {"output0_part0", "output0_part1", "output0_part2", "output1"}


def test_calibration_batches_are_nhwc_letterboxed(tmp_path):
    import cv2

    from segctl_export_tflite.calibration import calibration_batches

    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.zeros((20, 40, 3), np.uint8))
    gen, n = calibration_batches({"int8": True, "imgsz": [64, 64], "data": str(tmp_path), "batch": 2}, None)
    batches = [b[0] for b in gen()]
    assert n == 5 and len(batches) == 2 and all(b.shape == (2, 64, 64, 3) and b.dtype == np.float32 for b in batches)
    grey = 114 / 255.0
    assert np.allclose(batches[0][0, :16], grey) and (batches[0][0, 16:48] == 0).all()


@pytest.mark.slow
def test_benchmark_int8_row_beside_fp32(tmp_path, tiny_dataset, monkeypatch):
    """``segctl benchmark int8=True``: an int8 row with its own file, smaller, with a mask mAP; the
    model given by a relative path (the chain's intermediates must survive onnx2tf's chdir)."""
    from pathlib import Path

    from segctl.export.benchmark import benchmark

    fixture = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"
    src = tmp_path / "best.pt"
    src.write_bytes(fixture.read_bytes())
    monkeypatch.chdir(tmp_path)
    rows = {r["format"]: r for r in benchmark("best.pt", data=str(tiny_dataset), imgsz=64, formats="tflite",
                                              int8=True, runs=1, show=False)}
    assert set(rows) == {"pytorch", "tflite", "tflite int8"}
    fp32, q = rows["tflite"], rows["tflite int8"]
    assert fp32["status"] == "ok" and q["status"] in ("ok", "not verified"), (fp32, q)
    assert q["path"].endswith("best_int8.tflite") and Path(fp32["path"]).is_file()
    assert q["size_mb"] < 0.5 * fp32["size_mb"]
    assert q["mask_map50_95"] is not None and fp32["mask_map50_95"] is not None
