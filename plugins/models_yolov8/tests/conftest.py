"""Shared fixtures: the YOLOv8 layer mapping built by hand (no session needed) and config paths."""
from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "segctl_models_yolov8" / "configs"
FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"  # shared, one copy
LAYER_NAMES = ("Conv", "Bottleneck", "C2f", "SPPF", "Concat", "Upsample", "DFL", "Detect", "Proto", "Segment")


def yolo_layers() -> dict:
    from segctl_models_yolov8 import layers as L

    return {n: getattr(L, n) for n in LAYER_NAMES}


def tiny_cfg(head: str = "seg") -> dict:
    """The real YOLOv8 YAML with an extra tiny scale ``t`` (widths 8-64) for fast tests."""
    import yaml

    d = yaml.safe_load((CONFIGS / ("yolov8-seg.yaml" if head == "seg" else "yolov8.yaml")).read_text())
    d["scales"]["t"] = [0.33, 0.0625, 1024]
    d["scale"] = "t"
    return d


@pytest.fixture
def layers():
    return yolo_layers()


@pytest.fixture
def make_tiny_cfg():
    return tiny_cfg


@pytest.fixture
def configs_dir():
    return CONFIGS


@pytest.fixture
def fixtures_dir():
    return FIXTURES


@pytest.fixture
def tiny_seg(layers):
    import torch

    from segctl.nn import build_model

    torch.manual_seed(0)
    return build_model(tiny_cfg(), layers=layers, nc=3)
