"""SavedModel export (ONNX -> onnx2tf) + TensorFlow backend: NHWC input, ONNX output layout, parity."""
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
def saved(tf_workdir, session, tiny):
    return export(tiny, session, format="saved_model", imgsz=[64, 96], keras=True,
                  output=str(tf_workdir / "m_saved_model"))


def test_signature_is_nhwc_with_onnx_layout_outputs(saved):
    import tensorflow as tf

    fn = tf.saved_model.load(str(saved)).signatures["serving_default"]
    spec = fn.structured_input_signature[1]["images"]
    assert spec.shape.as_list() == [1, 64, 96, 3]
    out = fn(images=tf.zeros([1, 64, 96, 3]))
    assert out["output0"].shape.as_list()[:2] == [1, 4 + 3 + 32]
    assert out["output1"].shape.as_list() == [1, 32, 16, 24]  # NCHW prototypes, as in ONNX


def test_parts_signature_joins_into_output0(saved):
    import tensorflow as tf

    sigs = tf.saved_model.load(str(saved)).signatures
    x = tf.random.uniform([1, 64, 96, 3], seed=1)
    whole = sigs["serving_default"](images=x)
    parts = sigs["serving_parts"](images=x)
    assert [parts[f"output0_part{i}"].shape[1] for i in range(3)] == [4, 3, 32]  # boxes, scores, coefficients
    joined = np.concatenate([parts[f"output0_part{i}"].numpy() for i in range(3)], axis=1)
    np.testing.assert_allclose(joined, whole["output0"].numpy(), atol=1e-5)
    np.testing.assert_allclose(parts["output1"].numpy(), whole["output1"].numpy(), atol=1e-5)


def test_backend_matches_torch(saved, session, tiny):
    backend = load_backend(saved, session)
    assert backend.metadata["format"] == "saved_model" and backend.metadata["parity"]["passed"]
    x = torch.rand(2, 3, 64, 96)
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = tiny(x)
    assert torch.allclose(pred, rp, atol=2e-3, rtol=1e-3) and torch.allclose(proto, rq, atol=2e-3, rtol=1e-3)


def test_keras_model_written_with_same_outputs(saved):
    import tf_keras

    model = tf_keras.models.load_model(str(saved / "model.keras"))
    outs = model(np.zeros((1, 64, 96, 3), np.float32))
    assert [tuple(o.shape) for o in outs][1] == (1, 32, 16, 24)


def test_nms_is_refused_naming_supported_options(session, tiny):
    with pytest.raises(UsageError, match="does not support option 'nms'"):
        export(tiny, session, format="saved_model", nms=True)


def test_permutation_is_found_numerically():
    from segctl_export_saved_model.convert import find_permutations

    ref = np.random.default_rng(0).random((1, 32, 8, 8)).astype(np.float32)  # square: shapes are ambiguous
    assert find_permutations([ref.transpose(0, 2, 3, 1)], [ref]) == [(0, 3, 1, 2)]
    assert find_permutations([ref], [ref]) == [(0, 1, 2, 3)]


def test_run_in_batches_pads_and_trims():
    from segctl_export_saved_model.backend_base import run_in_batches

    seen = []
    out = run_in_batches(lambda a: (seen.append(a.shape[0]), [a * 2])[1], np.ones((5, 2, 2, 3), np.float32), 2)
    assert seen == [2, 2, 2] and out[0].shape == (5, 2, 2, 3)
