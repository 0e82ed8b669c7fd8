"""TF.js export (SavedModel -> tensorflowjs converter) + backend: model.json with segctl metadata,
fp32 parity with PyTorch through the Python backend and through TensorFlow.js on Node, float16 and
uint8 weights, clear errors for broken folders."""
from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("onnx2tf")
pytest.importorskip("tensorflowjs.converters.tf_saved_model_conversion_v2", exc_type=ImportError)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from segctl.errors import CheckpointError  # noqa: E402
from segctl.export.backends import load_backend  # noqa: E402
from segctl.export.run import export  # noqa: E402


def _size(folder):
    return sum(p.stat().st_size for p in folder.glob("*.bin"))


@pytest.fixture(scope="module")
def web(tf_workdir, session, tiny):
    return export(tiny, session, format="tfjs", imgsz=[64, 96], output=str(tf_workdir / "m_web_model"))


def test_folder_layout_and_metadata(web):
    spec = json.loads((web / "model.json").read_text())
    assert spec["format"] == "graph-model" and list(web.glob("group1-shard*of*.bin"))
    meta = spec["userDefinedMetadata"]["segctl"]
    assert meta["names"] == {"0": "class0", "1": "class1", "2": "class2"}
    assert meta["imgsz"] == [64, 96] and meta["parity"]["passed"] and meta["weights"] == "float32"
    assert set(spec["signature"]["outputs"]) == {"output0", "output1"}
    assert (web / "metadata.yaml").is_file()


def test_backend_matches_torch(web, session, tiny):
    backend = load_backend(web, session)
    assert backend.metadata["format"] == "tfjs"
    x = torch.rand(2, 3, 64, 96)  # batch 2 through a batch-1 model: run in chunks
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = tiny(x)
    assert pred.shape == rp.shape and proto.shape == rq.shape
    assert torch.allclose(pred, rp, atol=2e-3, rtol=1e-3) and torch.allclose(proto, rq, atol=2e-3, rtol=1e-3)


def test_runs_in_tensorflow_js_on_node(web, tiny):
    from segctl_export_tfjs.node_runner import node_modules, run_in_node

    if shutil.which("node") is None or node_modules() is None:
        pytest.skip("node and @tensorflow/tfjs not installed (make install-tfjs sets SEGCTL_TFJS_NODE_MODULES)")
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(3))
    out = run_in_node(web, np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1)))
    with torch.no_grad():
        rp, rq = tiny(x)
    np.testing.assert_allclose(out["output0"], rp.numpy(), atol=2e-3, rtol=1e-3)
    np.testing.assert_allclose(out["output1"], rq.numpy(), atol=2e-3, rtol=1e-3)


def test_half_and_int8_weights_are_smaller_and_run(tf_workdir, session, tiny, web):
    half = export(tiny, session, format="tfjs", imgsz=[64, 96], half=True, output=str(tf_workdir / "h_web_model"))
    q8 = export(tiny, session, format="tfjs", imgsz=[64, 96], int8=True, output=str(tf_workdir / "q_web_model"))
    assert _size(half) < 0.6 * _size(web) and _size(q8) < 0.35 * _size(web)
    weights = json.loads((q8 / "model.json").read_text())["weightsManifest"][0]["weights"]
    assert any(w.get("quantization", {}).get("dtype") == "uint8" for w in weights)
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        rp, _ = tiny(x)
    for folder, tol in ((half, 0.05), (q8, 1.0)):
        pred, _ = load_backend(folder, session)(x)
        assert float((pred[:, :4] - rp[:, :4]).abs().mean()) < tol  # boxes in pixels
    assert load_backend(q8, session).metadata["weights"] == "uint8"


def test_metadata_from_model_json_alone(web, session, tmp_path):
    alone = tmp_path / "a_web_model"
    shutil.copytree(web, alone)
    (alone / "metadata.yaml").unlink()
    meta = load_backend(alone, session).metadata
    assert meta["names"] == {0: "class0", 1: "class1", 2: "class2"} and meta["imgsz"] == [64, 96]


def test_missing_shard_is_a_checkpoint_error(web, session, tmp_path):
    broken = tmp_path / "b_web_model"
    shutil.copytree(web, broken)
    next(broken.glob("*.bin")).unlink()
    with pytest.raises(CheckpointError, match="shard"):
        load_backend(broken, session)
