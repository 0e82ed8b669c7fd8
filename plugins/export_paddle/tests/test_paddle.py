"""Paddle plugin: the X2Paddle compatibility adaptations, export, metadata, parity and the backend.

Uses the real yolov8n-seg architecture (nc=3) at 64 px: the adaptations exist for ops it contains
(SPPF's MaxPool). Skips only when paddlepaddle or x2paddle is not installed.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("paddle")
pytest.importorskip("x2paddle")
torch = pytest.importorskip("torch")

from onnx import helper  # noqa: E402

from segctl.errors import CheckpointError, UsageError  # noqa: E402
from segctl.export import export, load_backend  # noqa: E402
from segctl.export.metadata import read_yaml_metadata  # noqa: E402
from segctl.export.testing import FakeSession  # noqa: E402
from segctl_export_onnx import plugin as onnx_plugin  # noqa: E402
from segctl_export_paddle import plugin  # noqa: E402
from segctl_export_paddle.compat import drop_unit_dilations, install_onnx_mapping, opset_of  # noqa: E402

IMGSZ = 64


@pytest.fixture(scope="module")
def session():
    return FakeSession([*onnx_plugin.segctl_register_exporters(), *onnx_plugin.segctl_register_backends(),
                        *plugin.segctl_register_exporters(), *plugin.segctl_register_backends()])


@pytest.fixture(scope="module")
def model():
    from segctl.nn import build_from_session
    from segctl.session import Session

    torch.manual_seed(0)
    return build_from_session("yolov8n-seg.yaml", Session.create(), nc=3).eval()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory, session, model):
    return export(model, session, format="paddle", imgsz=IMGSZ, output=str(tmp_path_factory.mktemp("pd") / "y_paddle_model"))


def test_plugin_module_is_light():
    code = ("import sys, segctl_export_paddle.plugin as p; p.segctl_register_exporters(); "
            "assert not {'torch', 'paddle', 'numpy', 'onnx', 'x2paddle'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spec():
    (spec,) = plugin.segctl_register_exporters()
    assert spec.after == ("onnx",) and spec.suffix == "_paddle_model" and "six" in spec.requires


def test_drop_unit_dilations_only():
    unit = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[5, 5], dilations=[1, 1])
    dilated = helper.make_node("MaxPool", ["y"], ["z"], kernel_shape=[3, 3], dilations=[2, 2])
    graph = helper.make_graph([unit, dilated], "g", [], [])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    assert drop_unit_dilations(m) == 1
    assert [a.name for a in m.graph.node[0].attribute] == ["kernel_shape"]
    assert "dilations" in [a.name for a in m.graph.node[1].attribute]
    assert opset_of(m) == 18


def test_onnx_mapping_shim():
    install_onnx_mapping()
    from onnx.mapping import TENSOR_TYPE_TO_NP_TYPE

    assert str(TENSOR_TYPE_TO_NP_TYPE[onnx.TensorProto.FLOAT]) == "float32"


def test_folder_metadata_parity(artifact):
    assert sorted(p.name for p in artifact.iterdir()) in (["metadata.yaml", "model.json", "model.pdiparams"],
                                                         ["metadata.yaml", "model.pdiparams", "model.pdmodel"])
    meta = read_yaml_metadata(artifact)
    assert meta["format"] == "paddle" and meta["names"] == {0: "class0", 1: "class1", 2: "class2"}
    assert meta["parity"]["passed"] and meta["parity"]["max_abs_diff"] < 1e-3 and meta["parity"]["mask_iou"] >= 0.99


def test_backend_matches_torch(artifact, session, model):
    backend = load_backend(artifact, session)
    x = torch.rand((1, 3, IMGSZ, IMGSZ), generator=torch.Generator().manual_seed(1))
    pred, proto = backend(x)
    with torch.no_grad():
        rp, rq = model(x)
    assert pred.shape == (1, 39, 84) and proto.shape == (1, 32, 16, 16)
    torch.testing.assert_close(pred, rp, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(proto, rq, atol=1e-3, rtol=1e-3)


def test_unsupported_option_is_refused(session, model, tmp_path):
    with pytest.raises(UsageError, match="does not support option 'half'"):
        export(model, session, format="paddle", imgsz=IMGSZ, half=True, output=str(tmp_path / "h_paddle_model"))


def test_empty_folder_is_a_clear_error(tmp_path, session):
    folder = tmp_path / "e_paddle_model"
    folder.mkdir()
    with pytest.raises(CheckpointError, match="no Paddle inference model"):
        load_backend(folder, session)
