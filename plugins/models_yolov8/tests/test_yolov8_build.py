"""Graph building from the YOLOv8 YAMLs: exact parameter counts, shapes, strides, errors, plugins."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from segctl.errors import ConfigError
from segctl.nn import build_model

SEG = {"n": 3_409_968, "s": 11_821_056, "m": 27_285_968, "l": 45_997_728, "x": 71_827_888}
DET = {"n": 3_157_200, "s": 11_166_560, "m": 25_902_640, "l": 43_691_520, "x": 68_229_648}


def nparams(m):
    return sum(p.numel() for p in m.parameters())


def test_n_param_counts_exact(layers, configs_dir):
    seg = build_model(configs_dir / "yolov8-seg.yaml", layers=layers, scale="n")
    det = build_model(configs_dir / "yolov8.yaml", layers=layers, scale="n")
    assert nparams(seg) == SEG["n"] and nparams(det) == DET["n"]
    assert seg.task == "segment" and det.task == "detect"
    assert seg.stride.tolist() == [8.0, 16.0, 32.0]
    keys = list(seg.state_dict())
    assert keys[0] == "model.0.conv.weight" and "model.22.proto.cv1.conv.weight" in keys
    assert len(keys) == 417  # same tensor count as a YOLOv8n-seg checkpoint


@pytest.mark.slow
@pytest.mark.parametrize("scale", list("nslmx"))
def test_all_scales_param_counts_exact(layers, configs_dir, scale):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        seg = build_model(configs_dir / "yolov8-seg.yaml", layers=layers, scale=scale)
        det = build_model(configs_dir / "yolov8.yaml", layers=layers, scale=scale)
    print(f"yolov8{scale}-seg {nparams(seg):,}  yolov8{scale} {nparams(det):,}")
    assert nparams(seg) == SEG[scale]
    assert nparams(det) == DET[scale]


def test_gflops_nseg_640(layers, configs_dir):
    m = build_model(configs_dir / "yolov8-seg.yaml", layers=layers, scale="n")
    info = m.info(imgsz=640, verbose=False)
    fused = m.fuse().info(imgsz=640, verbose=False)
    print(f"yolov8n-seg GFLOPs at 640: unfused {info['gflops']:.3f}, fused {fused['gflops']:.3f}")
    assert 11.9 <= info["gflops"] <= 12.2
    assert 11.9 <= fused["gflops"] <= 12.1
    assert info["params"] == SEG["n"] and info["gradients"] == SEG["n"] - 16  # DFL weights are frozen


def test_info_prints_table_and_summary(tiny_seg, capsys):
    info = tiny_seg.info(imgsz=64, verbose=True)
    out = capsys.readouterr().out
    assert "Segment" in out and "summary" in out and f"{info['params']:,} parameters" in out
    assert set(info) >= {"layers", "params", "gradients", "gflops"}


def test_train_and_eval_outputs(tiny_seg):
    x = torch.rand(2, 3, 64, 96)
    tiny_seg.train()
    feats, mc, proto = tiny_seg(x)
    n = 8 * 12 + 4 * 6 + 2 * 3
    assert [f.shape for f in feats] == [(2, 64 + 3, 8, 12), (2, 67, 4, 6), (2, 67, 2, 3)]
    assert mc.shape == (2, 32, n) and proto.shape == (2, 32, 16, 24)
    tiny_seg.eval()
    pred, proto = tiny_seg(x)
    assert pred.shape == (2, 4 + 3 + 32, n) and proto.shape == (2, 32, 16, 24)
    scores = pred[:, 4:7]
    assert scores.min() >= 0 and scores.max() <= 1
    # first anchor sits at the centre of cell (0, 0) of the stride-8 level
    assert 0 < pred[0, 0, 0] < 64


def test_detect_eval_layout(layers, make_tiny_cfg):
    det = build_model(make_tiny_cfg("det"), layers=layers, nc=5).eval()
    out = det(torch.rand(1, 3, 64, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 4 + 5, 64 + 16 + 4)


def test_nc_names_and_yaml_rebuild(layers, make_tiny_cfg):
    m = build_model(make_tiny_cfg(), layers=layers, names=["cat", "dog"])
    assert m.nc == 2 and m.names == {0: "cat", 1: "dog"} and m.head.nc == 2
    again = build_model(m.yaml, layers=layers)
    assert m.yaml["scale"] == "t" and m.yaml["nc"] == 2
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in m.state_dict().items()}


def test_bias_init_uses_stride(tiny_seg):
    h = tiny_seg.head
    import math

    assert torch.allclose(h.cv3[0][-1].bias, torch.full((3,), math.log(5 / 3 / (640 / 8) ** 2)))
    assert torch.all(h.cv2[2][-1].bias == 1.0)


def test_config_errors(layers, make_tiny_cfg):
    cfg = make_tiny_cfg()
    cfg["head"][2][2] = "C2F"
    with pytest.raises(ConfigError, match=r"layer 12: unknown layer type 'C2F'.*") as e:
        build_model(cfg, layers=layers)
    assert "C2f" in e.value.hint
    cfg = make_tiny_cfg()
    cfg["head"][1][0] = [-1, 30]
    with pytest.raises(ConfigError, match="invalid 'from'"):
        build_model(cfg, layers=layers)
    cfg = make_tiny_cfg()
    cfg["backbone"][0] = [-1, 1, "Conv"]
    with pytest.raises(ConfigError, match=r"expected \[from, repeats, module, args\]"):
        build_model(cfg, layers=layers)
    with pytest.raises(ConfigError, match="no scale 'q'"):
        build_model(make_tiny_cfg(), layers=layers, scale="q")


class Gain(nn.Module):
    """Toy third-party layer: learnable per-channel gain; default ``passthrough`` channel rule."""

    def __init__(self, init=1.0):
        super().__init__()
        self.g = nn.Parameter(torch.tensor(float(init)))

    def forward(self, x):
        return x * self.g


class Widen(nn.Module):
    """Toy layer with its own ``from_yaml``: output channels = input × factor (unscaled)."""

    def __init__(self, c1, factor):
        super().__init__()
        self.conv = nn.Conv2d(c1, c1 * factor, 1, bias=False)
        self.bn = nn.BatchNorm2d(c1 * factor)

    @classmethod
    def from_yaml(cls, args, ch_in, ctx):
        return cls(ch_in[0], args[0]), ch_in[0] * args[0]

    def forward(self, x):
        return self.bn(self.conv(x))


def test_third_party_layers_in_yaml(layers, tmp_path):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(textwrap.dedent("""
        nc: 2
        backbone:
          - [-1, 1, Conv, [16, 3, 2]]
          - [-1, 2, Gain, [0.5]]
          - [-1, 1, Conv, [32, 3, 2]]
          - [-1, 1, Widen, [2]]
          - [-1, 1, Conv, [64, 3, 2]]
        head:
          - [[1, 3, 4], 1, Detect, [nc]]
    """))
    m = build_model(cfg, layers={**layers, "Gain": Gain, "Widen": Widen})
    assert isinstance(m.model[1], nn.Sequential) and len(m.model[1]) == 2
    assert m.model[3].conv.out_channels == 64 and m.model[4].conv.in_channels == 64
    assert m.stride.tolist() == [2.0, 4.0, 8.0] and m.task == "detect"
    assert "model.1.0.g" in m.state_dict()
    m.eval()
    assert m(torch.rand(1, 3, 32, 32)).shape == (1, 6, 16 * 16 + 8 * 8 + 4 * 4)


def test_import_segctl_does_not_import_torch():
    code = ("import sys, segctl, segctl.nn, segctl_models_yolov8.plugin as p; "
            "p.segctl_register_models(); p.segctl_register_backends(); "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plugin_specs():
    from segctl.specs import LayerSpec, ModelConfigSpec
    from segctl_models_yolov8 import plugin

    specs = plugin.segctl_register_models()
    models = {s.name: s for s in specs if isinstance(s, ModelConfigSpec)}
    assert len(models) == 12 and models["yolov8m-seg"].scale == "m" and models["yolov8x"].task == "detect"
    assert models["yolov8-seg"].scale == "n"
    for s in models.values():
        assert s.path().endswith(".yaml") and __import__("os").path.isfile(s.path())
    heads = {s.name: s.task for s in specs if isinstance(s, LayerSpec) and s.task}
    assert heads == {"Segment": "segment", "Detect": "detect"}
    for s in specs:
        if isinstance(s, LayerSpec):
            assert s.load() is not None
    (backend,) = plugin.segctl_register_backends()
    assert backend.name == "pytorch" and ".safetensors" in backend.suffixes
