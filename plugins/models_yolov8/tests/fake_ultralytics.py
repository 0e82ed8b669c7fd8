"""Write Ultralytics-style pickles for the legacy-reader tests. Run as a *subprocess*:

    python fake_ultralytics.py OUT_DIR KIND[,KIND...] MARKER

It creates a throw-away package named ``ultralytics`` (classes that subclass segctl's own layers, so
the pickle references ``ultralytics.nn.modules.conv.Conv`` etc. exactly as real files do) and saves
one checkpoint of KIND. Malicious KINDs embed payloads that would create MARKER if ever executed.
The test process itself never imports this fake package.
"""
import os
import subprocess
import sys
import textwrap
from collections import OrderedDict
from pathlib import Path

out, kinds, marker = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
pkg = out / "fakepkg"
files = {
    "ultralytics/__init__.py": "",
    "ultralytics/nn/__init__.py": "",
    "ultralytics/nn/tasks.py": """
        import torch.nn as nn
        class SegmentationModel(nn.Module):
            pass
    """,
    "ultralytics/nn/modules/__init__.py": "",
    "ultralytics/nn/modules/conv.py": """
        from segctl_models_yolov8 import layers as L
        class Conv(L.Conv): pass
        class Concat(L.Concat): pass
    """,
    "ultralytics/nn/modules/block.py": """
        from segctl_models_yolov8 import layers as L
        class C2f(L.C2f): pass
        class Bottleneck(L.Bottleneck): pass
        class SPPF(L.SPPF): pass
        class DFL(L.DFL): pass
        class Proto(L.Proto): pass
    """,
    "ultralytics/nn/modules/head.py": """
        from segctl_models_yolov8 import layers as L
        class Detect(L.Detect):
            def forward(self, x):
                return super().forward(x)
        class Segment(L.Segment):
            def forward(self, x):
                return super().forward(x)
    """,
}
for rel, text in files.items():
    p = pkg / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text))
sys.path.insert(0, str(pkg))

import torch  # noqa: E402
import yaml  # noqa: E402

from segctl.nn import build_model  # noqa: E402
import importlib  # noqa: E402

# the throw-away stand-in package written above (never the real one, which is not installed)
tasks = importlib.import_module("ultralytics.nn.tasks")
block, conv, head = (importlib.import_module(f"ultralytics.nn.modules.{m}") for m in ("block", "conv", "head"))

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_cfg, yolo_layers  # noqa: E402

FAKE = {"Conv": conv.Conv, "Concat": conv.Concat, "C2f": block.C2f, "Bottleneck": block.Bottleneck,
        "SPPF": block.SPPF, "DFL": block.DFL, "Proto": block.Proto, "Detect": head.Detect, "Segment": head.Segment}


def fake_model(seed=0):
    torch.manual_seed(seed)
    g = build_model(tiny_cfg(), layers=yolo_layers(), nc=2, names=["a", "b"])
    for m in g.modules():
        if type(m).__name__ in FAKE:
            m.__class__ = FAKE[type(m).__name__]
        for k in ("anchors", "strides", "_anchor_key"):
            m.__dict__.pop(k, None)
    root = tasks.SegmentationModel()
    root.model = g.model
    root.yaml, root.names, root.stride = g.yaml, g.names, g.stride
    torch.save(g.state_dict(), out / f"reference_{seed}.pt")
    return root.half()


class Payload:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class Gadget:
    """Pickles as getattr(OrderedDict, '__init__'); called by an outer REDUCE."""

    def __call__(self, *a):
        return None

    def __reduce__(self):
        return getattr, (OrderedDict, "__init__")


touch = f"touch {marker}"


def save(kind):
    ckpt = {"date": "2024-01-01T00:00:00", "version": "8.0.0", "epoch": -1, "best_fitness": None,
            "train_args": {"imgsz": 160, "task": "segment"}, "optimizer": None, "updates": 0}
    if kind.startswith("plain"):
        ckpt["model"] = fake_model(int(kind[5:] or 0))
    elif kind == "last":
        ckpt.update(model=None, ema=fake_model(), optimizer={"state": {}, "param_groups": [{"lr": 0.01}]}, epoch=3)
    elif kind == "variants":
        import pathlib

        import numpy as np

        m = fake_model()
        m.model[-1].detect = head.Detect.forward  # pickled as builtins.getattr(Detect, "forward")
        ckpt.update(model=m, best_fitness=np.float64(0.625), train_args={"imgsz": 160, "save_dir": pathlib.Path("/tmp/r")})
    elif kind == "cyclic":
        m = fake_model()
        m.model[0]._modules["loop"] = m
        ckpt["model"] = m
    elif kind == "junk_build":
        m = fake_model()
        m.model[0].__dict__["_parameters"] = [1, 2, 3]
        ckpt["model"] = m
    elif kind == "os_system":
        ckpt["model"] = Payload(os.system, (touch,))
    elif kind == "exec":
        ckpt["model"] = Payload(exec, (f"open({marker!r}, 'w').close()",))
    elif kind == "popen":
        ckpt["model"] = Payload(subprocess.Popen, (["touch", marker],))
    elif kind == "mixed":
        ckpt.update(model=fake_model(), train_args={"x": Payload(os.system, (touch,))})
    elif kind == "disguised":
        ckpt["model"] = Payload(tasks.SegmentationModel, (touch,))
    elif kind == "gadget":
        ckpt.update(model=fake_model(), train_args={"x": Payload(Gadget(), (touch,))})
    else:
        raise SystemExit(f"unknown kind {kind}")
    torch.save(ckpt, out / f"{kind}.pt")


for kind in kinds:
    save(kind)
