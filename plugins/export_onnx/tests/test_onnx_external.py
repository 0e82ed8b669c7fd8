"""RELIABILITY 11: external data locations outside the model's folder are refused before any
ONNX Runtime session is created, and nothing outside the folder is read."""
import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from segctl.errors import CheckpointError
from segctl_export_onnx.backend import OnnxBackend


def make_model(folder, location):
    """A one-node ONNX (y = x + w) whose initializer w lives in external data at ``location``."""
    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "16")):
        w.external_data.add(key=k, value=v)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    path = folder / "m.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture
def no_session(monkeypatch):
    created = []
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: created.append(a) or pytest.fail("session created"))
    return created


def test_inside_folder_is_accepted(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    path = make_model(tmp_path, "w.bin")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"x": np.ones(4, np.float32)})[0].tolist() == [1, 2, 3, 4]
    from segctl_export_onnx.external import check_external_data

    check_external_data(path)  # no error


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_escaping_locations_refused(tmp_path, no_session, kind):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    secret = tmp_path / "outside.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    if kind == "dotdot":
        location = "../outside.bin"
    elif kind == "absolute":
        location = str(secret)
    else:
        os.symlink(secret, model_dir / "link.bin")
        location = "link.bin"
    path = make_model(model_dir, location)
    with pytest.raises(CheckpointError, match="outside the model's folder"):
        OnnxBackend(path)
    assert no_session == []
