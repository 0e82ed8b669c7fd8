"""Frozen GraphDef export + backend: runs in TensorFlow without the variables folder."""
from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("onnx2tf")

import shutil  # noqa: E402

import torch  # noqa: E402

from segctl.errors import CheckpointError  # noqa: E402
from segctl.export.backends import load_backend  # noqa: E402
from segctl.export.run import export  # noqa: E402


@pytest.fixture(scope="module")
def pb(tf_workdir, session, tiny):
    return export(tiny, session, format="pb", imgsz=64, output=str(tf_workdir / "m.pb"))


def test_pb_standalone_matches_torch(pb, session, tiny, tmp_path):
    alone = tmp_path / "alone.pb"  # copy without the SavedModel next to it
    shutil.copy(pb, alone)
    shutil.copy(pb.with_name("m.pb.metadata.yaml"), tmp_path / "alone.pb.metadata.yaml")
    backend = load_backend(alone, session)
    assert backend.metadata["tensors"]["inputs"] and backend.metadata["parity"]["passed"]
    x = torch.rand(1, 3, 64, 64)
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = tiny(x)
    assert torch.allclose(pred, rp, atol=2e-3, rtol=1e-3) and torch.allclose(proto, rq, atol=2e-3, rtol=1e-3)


def test_corrupt_pb_is_a_checkpoint_error(tmp_path, session):
    bad = tmp_path / "bad.pb"
    bad.write_bytes(b"\x00not a graph")
    with pytest.raises(CheckpointError, match="bad.pb"):
        load_backend(bad, session)
