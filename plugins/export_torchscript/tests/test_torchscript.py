"""TorchScript exporter and backend: metadata in extra files, parity, dynamic shapes, nms=True,
fp16, and the optimize=True requirement."""
import json

import pytest
import torch

from segctl.errors import UsageError
from segctl.export import export, load_backend


def test_metadata_in_extra_files_and_parity(session, tiny, tmp_path):
    path = export(tiny, session, format="torchscript", imgsz=64, output=tmp_path / "m.torchscript")
    extra = {"config.txt": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["config.txt"])
    assert meta["names"] == {"0": "circle", "1": "square", "2": "star"} and meta["task"] == "segment"
    assert meta["imgsz"] == [64, 64] and meta["format"] == "torchscript" and meta["parity"]["passed"]
    backend = load_backend(path, session)
    assert backend.names == {0: "circle", 1: "square", 2: "star"} and backend.metadata["parity"]["max_abs_diff"] < 1e-4
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = tiny(x)
        out = loaded(x)
    assert torch.allclose(out[0], ref[0], atol=1e-5) and torch.allclose(out[1], ref[1], atol=1e-5)


def test_dynamic_and_alias(session, tiny, tmp_path):
    path = export(tiny, session, format="ts", imgsz=64, dynamic=True, output=tmp_path / "d.torchscript")
    samples = load_backend(path, session).metadata["parity"]["samples"]
    assert [s["input"] for s in samples] == [[1, 3, 64, 64], [2, 3, 64, 96]] and all(s["passed"] for s in samples)


def test_nms_outputs(session, tiny, tmp_path):
    path = export(tiny, session, format="torchscript", imgsz=64, nms=True, max_det=10, output=tmp_path / "e.torchscript")
    backend = load_backend(path, session)
    out = backend(torch.rand(1, 3, 64, 64))
    assert set(out) == {"boxes", "scores", "classes", "masks", "num"} and backend.nms
    assert out["boxes"].shape == (1, 10, 4) and out["masks"].shape == (1, 10, 16, 16)
    assert backend.metadata["parity"]["passed"]


def test_half(session, tiny, tmp_path):
    path = export(tiny, session, format="torchscript", imgsz=64, half=True, output=tmp_path / "h.torchscript")
    backend = load_backend(path, session)
    assert backend.fp16 and backend.metadata["parity"]["passed"]
    assert backend(torch.rand(1, 3, 64, 64))[0].dtype == torch.float32


def test_optimize_needs_fp32_and_xnnpack(session, tiny, tmp_path):
    with pytest.raises(UsageError, match="needs fp32"):
        export(tiny, session, format="torchscript", imgsz=64, optimize=True, half=True, output=tmp_path / "o.torchscript")
    from torch.backends import xnnpack

    if not xnnpack.enabled:
        with pytest.raises(UsageError, match="XNNPACK"):
            export(tiny, session, format="torchscript", imgsz=64, optimize=True, output=tmp_path / "o.torchscript")
    else:
        path = export(tiny, session, format="torchscript", imgsz=64, optimize=True, output=tmp_path / "o.torchscript")
        assert load_backend(path, session).metadata["parity"]["passed"]
    assert not list(tmp_path.glob(".segctl-export-*"))


def test_unsupported_option(session, tiny):
    with pytest.raises(UsageError, match="'torchscript' does not support option 'opset'"):
        export(tiny, session, format="torchscript", opset=12)
