"""Fusing, weight transfer, the torch backend and the session adapter."""
from __future__ import annotations

import pytest
import torch

from segctl.nn import TorchBackend, build_model, make_checkpoint, save_checkpoint, transfer_weights


def _randomise_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def test_fuse_parity(tiny_seg):
    _randomise_bn(tiny_seg)
    tiny_seg.eval()
    x = torch.rand(2, 3, 96, 64)
    with torch.no_grad():
        a = tiny_seg(x)
        n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in tiny_seg.modules())
        tiny_seg.fuse()
        b = tiny_seg(x)
    assert n_bn > 0 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in tiny_seg.modules())
    d0, d1 = (a[0] - b[0]).abs().max().item(), (a[1] - b[1]).abs().max().item()
    print(f"fuse max abs diff: pred {d0:.2e}, proto {d1:.2e}")
    assert d0 <= 1e-4 and d1 <= 1e-4


def test_transfer_detect_into_seg(layers, make_tiny_cfg, caplog):
    torch.manual_seed(0)
    det = build_model(make_tiny_cfg("det"), layers=layers, nc=3)
    seg = build_model(make_tiny_cfg(), layers=layers, nc=3)
    sd = det.state_dict()
    shared = [k for k, v in seg.state_dict().items() if k in sd and sd[k].shape == v.shape]
    with caplog.at_level("INFO", logger="segctl.nn"):
        n, total = transfer_weights(seg, sd)
    assert (n, total) == (len(shared), len(seg.state_dict())) and n == len(sd)
    assert f"Transferred {n}/{total} items" in caplog.text
    assert torch.equal(seg.state_dict()["model.0.conv.weight"], sd["model.0.conv.weight"])
    assert torch.equal(seg.state_dict()["model.22.cv2.0.0.conv.weight"], sd["model.22.cv2.0.0.conv.weight"])
    assert "model.22.proto.cv1.conv.weight" not in sd
    # a different class count: the class branch (cv3) changes shape and keeps its fresh init
    seg80 = build_model(make_tiny_cfg(), layers=layers, nc=80)
    fresh = seg80.state_dict()["model.22.cv3.0.2.weight"].clone()
    n80, _ = transfer_weights(seg80, seg.state_dict())
    assert 0 < n80 < total and torch.equal(seg80.state_dict()["model.22.cv3.0.2.weight"], fresh)
    assert torch.equal(seg80.state_dict()["model.9.cv2.conv.weight"], sd["model.9.cv2.conv.weight"])


def test_torch_backend_from_module_does_not_touch_original(tiny_seg):
    be = TorchBackend(tiny_seg, fuse=True)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in tiny_seg.modules())
    pred, proto = be(torch.rand(1, 3, 64, 64).numpy())
    assert pred.shape == (1, 4 + 3 + 32, 84) and be.task == "segment" and be.stride == [8.0, 16.0, 32.0]
    assert be.metadata["names"] == {0: "class0", 1: "class1", 2: "class2"} and be.metadata["nms"] is False


@pytest.fixture(scope="module")
def session():
    from segctl.session import Session

    return Session.create(only=("yolov8",))


def test_session_adapter_builds_and_loads(session, tiny_seg, tmp_path, fixtures_dir):
    from segctl.errors import UsageError
    from segctl.nn import build_from_session, load_checkpoint

    m = build_from_session("yolov8n-seg.yaml", session, nc=2)
    assert m.yaml["scale"] == "n" and m.nc == 2 and m.task == "segment"
    assert build_from_session("yolov8s", session).yaml["scale"] == "s"
    with pytest.raises(UsageError, match="unknown model 'yolov8q-seg'") as e:
        build_from_session("yolov8q-seg", session)
    assert "yolov8" in e.value.hint
    p = save_checkpoint(make_checkpoint(tiny_seg, imgsz=64), tmp_path / "t.safetensors")
    be = TorchBackend(p, session=session)
    assert be.metadata["imgsz"] == 64 and be(torch.rand(1, 3, 64, 64))[0].shape == (1, 39, 84)
    ck = load_checkpoint(fixtures_dir / "yolov8n-seg-shapes.pt", session=session)  # through the plugin hook
    assert ck["task"] == "segment" and len(ck["model"]) == 417
