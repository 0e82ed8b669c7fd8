"""Hostile exported artifacts: ONNX external data that escapes its folder (in every place a tensor
can hide), reads past the declared file, and metadata that lies about its types or size. Every file is
crafted here; refusals happen before an ONNX Runtime session exists (a session would fail the test)."""
from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from segctl.errors import CheckpointError  # noqa: E402


def _external(tensor, location: str, offset: int = 0, length: int = 16):
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        tensor.external_data.add(key=k, value=v)
    return tensor


def _save(folder, graph, functions=(), props=None):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("local", 1)],
                              functions=list(functions))
    for k, v in (props or {}).items():
        model.metadata_props.add(key=k, value=v)
    path = folder / "m.onnx"
    onnx.save(model, str(path))
    return path


def _io():
    return ([helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])


def model_with(folder, where: str, location: str, **kw):
    """A y = x + w model whose tensor w (placed according to ``where``) lives at ``location``."""
    w = _external(numpy_helper.from_array(np.arange(4, dtype=np.float32), "w"), location, **kw)
    ins, outs = _io()
    if where == "initializer":
        return _save(folder, helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", ins, outs, [w]))
    if where == "sparse_attribute":
        idx = numpy_helper.from_array(np.arange(4, dtype=np.int64), "i")
        sparse = helper.make_sparse_tensor(w, idx, [4])
        const = helper.make_node("Constant", [], ["w"], sparse_value=sparse)
        return _save(folder, helper.make_graph([const, helper.make_node("Add", ["x", "w"], ["y"])], "g", ins, outs))
    if where == "function":
        const = helper.make_node("Constant", [], ["w"], value=w)
        fn = helper.make_function("local", "AddW", ["a"], ["b"], [const, helper.make_node("Add", ["a", "w"], ["b"])],
                                  [helper.make_opsetid("", 18)])
        return _save(folder, helper.make_graph([helper.make_node("AddW", ["x"], ["y"], domain="local")], "g", ins, outs),
                     functions=[fn])
    if where == "subgraph":
        const = helper.make_node("Constant", [], ["w2"], value=w)
        sub = helper.make_graph([const, helper.make_node("Add", ["x", "w2"], ["y2"])], "sub", [],
                                [helper.make_tensor_value_info("y2", TensorProto.FLOAT, [4])])
        cond = numpy_helper.from_array(np.array(True), "c")
        node = helper.make_node("If", ["c"], ["y"], then_branch=sub, else_branch=sub)
        return _save(folder, helper.make_graph([node], "g", ins, outs, [cond]))
    raise ValueError(where)


@pytest.fixture
def no_session(monkeypatch):
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: pytest.fail("an ONNX Runtime session was created"))


def _open(path):
    from segctl_export_onnx.backend import OnnxBackend

    return OnnxBackend(path)


@pytest.mark.parametrize("where", ["initializer", "sparse_attribute", "function", "subgraph"])
@pytest.mark.parametrize("escape", ["dotdot", "absolute", "symlink"])
def test_external_data_escaping_the_folder_is_refused(tmp_path, no_session, where, escape):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    location = {"dotdot": "../secret.bin", "absolute": str(secret), "symlink": "link.bin"}[escape]
    if escape == "symlink":
        os.symlink(secret, model_dir / "link.bin")
    path = model_with(model_dir, where, location)
    atime = secret.stat().st_atime_ns
    with pytest.raises(CheckpointError, match="outside the model's folder"):
        _open(path)
    assert secret.stat().st_atime_ns == atime


def test_external_data_in_a_fifo_is_refused(tmp_path, no_session):
    """A FIFO inside the folder passes the path check but would block the reader forever."""
    os.mkfifo(tmp_path / "w.bin")
    with pytest.raises(CheckpointError, match="not a regular file"):
        _open(model_with(tmp_path, "initializer", "w.bin"))


def test_external_data_read_past_the_file_is_refused(tmp_path, no_session):
    (tmp_path / "w.bin").write_bytes(b"\0" * 16)
    with pytest.raises(CheckpointError, match="declares bytes 0\\+1000000000"):
        _open(model_with(tmp_path, "initializer", "w.bin", length=1_000_000_000))


def test_honest_external_data_still_runs(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    backend = _open(model_with(tmp_path, "initializer", "w.bin"))
    assert backend.session.run(None, {"x": np.ones(4, np.float32)})[0].tolist() == [1, 2, 3, 4]


LAUGHS = "{a: &a [x,x,x,x,x,x,x,x,x], b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]}"


@pytest.mark.parametrize("props, field", [
    ({"names": "{'cat': 'a'}"}, "'names' has a key 'cat'"),
    ({"names": "[[1, 2]]"}, "'names' has a list where a class name belongs"),
    ({"names": "'circle'"}, "'names' must map class indices"),
    ({"imgsz": "abc"}, "'imgsz' must be one or two integers"),
    ({"imgsz": "[640, 640, 3]"}, "'imgsz'"),
    ({"imgsz": "[true, 64]"}, "'imgsz'"),
    ({"stride": "'32'"}, "'stride' must be a positive number"),
    ({"nms": "'yes'"}, "'nms' must be true or false"),
    ({"batch": "-1"}, "'batch'"),
    ({"names": LAUGHS}, "aliases"),
    ({"names": "{0: 'a'}", "pad": "x" * (5 << 20)}, "exceeds"),
])
def test_artifact_metadata_that_lies_gets_a_clear_error(tmp_path, props, field):
    """Each bad field is a CheckpointError naming the file and the field (not a ValueError in predict)."""
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    ins, outs = _io()
    path = _save(tmp_path, helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", ins, outs, [w]),
                 props=props)
    with pytest.raises(CheckpointError) as e:
        _open(path)
    assert field in str(e.value) and "m.onnx" in str(e.value)


@pytest.mark.parametrize("text, field", [
    ("names: {0: a}\nimgsz: [0, 640]\n", "'imgsz'"),
    ("- just\n- a list\n", "must be a mapping"),
    (f"names: {LAUGHS}\n", "aliases"),
    ("names: {0: a\n", "not valid YAML"),
])
def test_folder_metadata_yaml_that_lies(tmp_path, text, field):
    """metadata.yaml of folder formats (OpenVINO, ncnn, Paddle, SavedModel, TF.js) goes through the same checks."""
    from segctl.export.metadata import read_yaml_metadata

    (tmp_path / "metadata.yaml").write_text(text)
    with pytest.raises(CheckpointError) as e:
        read_yaml_metadata(tmp_path)
    assert field in str(e.value) and "metadata.yaml" in str(e.value)


def test_reference_style_metadata_still_reads():
    """The reference implementation's Python-literal values keep working (no false refusals)."""
    from segctl.export.metadata import from_props

    meta = from_props({"names": "{0: 'circle', 1: 'ring'}", "stride": "32", "imgsz": "[640, 640]", "batch": "1",
                       "half": "False", "task": "segment", "args": "{'batch': 1, 'half': False}"})
    assert meta["names"] == {0: "circle", 1: "ring"} and meta["imgsz"] == [640, 640] and meta["half"] is False


@pytest.mark.parametrize("shard, words", [
    ("../../secret.bin", "outside the model folder"),
    ("/etc/passwd", "outside the model folder"),
    ("link.bin", "outside the model folder"),
    ("zero.bin", "outside the model folder"),
    ("fifo.bin", "not a regular file"),
])
def test_tfjs_shard_paths_stay_in_the_folder(tmp_path, shard, words):
    """TF.js manifests name their shards: each must be a regular file next to model.json."""
    weights = pytest.importorskip("segctl_export_tfjs.weights")
    model = tmp_path / "m_web_model"
    model.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    os.symlink(tmp_path / "secret.bin", model / "link.bin")
    os.symlink("/dev/zero", model / "zero.bin")
    os.mkfifo(model / "fifo.bin")
    manifest = [{"paths": [shard], "weights": [{"name": "w", "shape": [4], "dtype": "float32"}]}]
    with pytest.raises(CheckpointError, match=words):
        weights.read_weights(manifest, model)
