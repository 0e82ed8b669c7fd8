"""Registration, light import, and the ``segctl data`` command group."""
from __future__ import annotations

import subprocess
import sys
import types

import pytest
import yaml
from segctl_dataset_shapes import plugin
from typer.testing import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_specs():
    (ds,) = plugin.segctl_register_datasets()
    assert ds.name == "shapes-seg" and ds.target == "segctl_dataset_shapes.named:ensure_shapes"
    assert callable(ds.load())
    (cmd,) = plugin.segctl_register_commands()
    assert cmd.name == "data" and cmd.group
    import typer

    assert isinstance(cmd.load(), typer.Typer)


def test_entry_point_module_is_light():
    code = ("import sys, segctl_dataset_shapes.plugin as p; p.segctl_register_datasets(); p.segctl_register_commands();"
            "bad = [m for m in ('numpy', 'cv2', 'typer', 'torch', 'yaml') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_demo_and_convert_commands(tmp_path):
    from segctl_dataset_shapes.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["demo", str(tmp_path / "d"), "--train", "3", "--val", "2", "--imgsz", "64", "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert "3 train + 2 val" in r.output and (tmp_path / "d" / "data.yaml").is_file()
    pytest.importorskip("segctl_dataset_coco")
    r = runner.invoke(app, ["convert", "coco2yolo", str(tmp_path / "d/annotations/instances_train.json"),
                            str(tmp_path / "y"), "--images", str(tmp_path / "d/images/train")])
    assert r.exit_code == 0, r.output
    assert "crowd" in r.output  # train image 0 holds the crowd region
    doc = yaml.safe_load((tmp_path / "y" / "data.yaml").read_text())
    assert doc["train"] == "images/train" and doc["nc"] == 7
    # converting the generated COCO gives back the generator's own YOLO labels for polygon rows
    orig = (tmp_path / "d/labels/train/000001.txt").read_text().splitlines()
    conv = (tmp_path / "y/labels/train/000001.txt").read_text().splitlines()
    assert [line.split()[0] for line in orig] == [line.split()[0] for line in conv]


def test_check_delegates_to_core(monkeypatch):
    from segctl_dataset_shapes.cli import app

    seen = {}
    fake = types.ModuleType("segctl.datasets")

    def check(data, session):
        seen["args"] = (data, session)
        return "all good"

    fake.check = check
    monkeypatch.setitem(sys.modules, "segctl.datasets", fake)
    sentinel = object()
    r = CliRunner().invoke(app, ["check", "my.yaml"], obj={"session": sentinel})
    assert r.exit_code == 0, r.output
    assert seen["args"] == ("my.yaml", sentinel)  # the core prints the report itself


def test_preview_overlays_labels(tmp_path):
    import cv2
    import numpy as np
    from segctl_dataset_shapes.cli import app

    r = CliRunner().invoke(app, ["demo", str(tmp_path), "--train", "2", "--val", "1", "--imgsz", "96", "--preview"])
    assert r.exit_code == 0, r.output
    png = cv2.imread(str(tmp_path / "preview.png"))
    assert png.shape == (2 * 96, 2 * 96, 3)
    left, right = png[:, :96].astype(int), png[:, 96:].astype(int)
    assert np.abs(left - right).mean() > 1  # labelled pixels are tinted on the right
