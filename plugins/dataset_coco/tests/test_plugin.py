"""Registration, format detection, and the light-import rule of the entry-point module."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml
from segctl_dataset_coco import plugin


def test_registers_the_coco_format():
    (spec,) = plugin.segctl_register_datasets()
    assert spec.name == "coco" and spec.kind == "dataset format"
    fmt = spec.load()
    assert hasattr(fmt, "load") and hasattr(fmt, "check_config")


def test_detects_coco_json_and_yaml(tmp_path, coco_json):
    assert plugin.segctl_detect_dataset(path=coco_json, data=None) == "coco"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"foo": [1, 2]}))
    assert plugin.segctl_detect_dataset(path=other, data=None) is None
    assert plugin.segctl_detect_dataset(path=tmp_path / "d.yaml", data={"train": {"json": "a.json"}}) == "coco"
    assert plugin.segctl_detect_dataset(path=tmp_path / "d.yaml", data={"val": "ann/instances_val.json"}) == "coco"
    assert plugin.segctl_detect_dataset(path=tmp_path / "d.yaml", data={"train": "images/train"}) is None


def test_session_resolves_a_bare_json_and_a_yaml(tmp_path, coco_json):
    from segctl.session import Session

    session = Session.create()
    cfg, fmt = session.resolve_data(str(coco_json))
    assert cfg["format"] == "coco" and cfg["nc"] == 3
    assert len(fmt.load(cfg, "val", workers=0)) == 5
    y = tmp_path / "coco.yaml"
    y.write_text(yaml.safe_dump({"format": "coco", "train": {"json": str(coco_json)}}))
    cfg, fmt = session.resolve_data(str(y))
    assert type(fmt).__name__ == "CocoFormat" and cfg["val"] == cfg["train"]


def test_entry_point_module_is_light():
    code = ("import sys, segctl_dataset_coco.plugin as p; p.segctl_register_datasets();"
            "bad = [m for m in ('numpy', 'cv2', 'pycocotools', 'torch', 'PIL') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
