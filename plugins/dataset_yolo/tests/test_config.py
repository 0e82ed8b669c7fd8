"""Dataset YAML resolution and errors."""
from __future__ import annotations

import pytest
import yaml

from segctl.errors import DataError
from segctl_dataset_yolo.config import check_config, normalize_names


def test_relative_path_resolved_against_yaml(tmp_path, ds):
    ds.add("a")
    y = tmp_path / "cfg" / "data.yaml"
    y.parent.mkdir()
    y.write_text(yaml.safe_dump({"path": "../ds", "train": "images/train", "val": ["images/train"],
                                 "names": {0: "x", 1: "y"}}))
    out = check_config(yaml.safe_load(y.read_text()), y)
    assert out["path"] == str(ds.root.resolve())
    assert out["train"] == str(ds.root.resolve() / "images" / "train")
    assert out["val"] == [out["train"]]
    assert out["names"] == {0: "x", 1: "y"} and out["nc"] == 2
    assert out["yaml_file"] == str(y.resolve())


def test_names_forms():
    assert normalize_names(["a", "b"], None) == {0: "a", 1: "b"}
    assert normalize_names({"1": "b", "0": "a"}, 2) == {0: "a", 1: "b"}
    assert normalize_names(None, 3) == {0: "class0", 1: "class1", 2: "class2"}
    with pytest.raises(DataError, match="does not match"):
        normalize_names(["a", "b"], 3)
    with pytest.raises(DataError, match="without gaps"):
        normalize_names({0: "a", 2: "c"}, None)
    with pytest.raises(DataError, match="neither"):
        normalize_names(None, None)


def test_missing_key_and_path(ds):
    ds.add("a")
    with pytest.raises(DataError, match="missing 'val'") as e:
        check_config({"path": str(ds.root), "train": "images/train", "names": ["a"]})
    assert e.value.hint
    with pytest.raises(DataError, match="'val' path .*nope does not exist"):
        check_config({"path": str(ds.root), "train": "images/train", "val": "images/nope", "names": ["a"]})
    with pytest.raises(DataError, match="not a folder"):
        check_config({"path": str(ds.root / "missing"), "train": "x", "val": "x", "names": ["a"]})


def test_txt_list_split(ds):
    ds.add("a")
    ds.add("b")
    (ds.root / "train.txt").write_text("./images/train/a.jpg\r\nimages/train/b.jpg\n")
    idx = ds.load(data=ds.data(train="train.txt"), workers=0)
    assert [r["im_file"].split("/")[-1] for r in idx.records] == ["a.jpg", "b.jpg"]


def test_detect_hook(tmp_path, ds):
    from segctl_dataset_yolo.plugin import segctl_detect_dataset, segctl_register_datasets

    assert segctl_register_datasets()[0].name == "yolo"
    assert segctl_detect_dataset("d.yaml", {"train": "images/train", "val": "images/val"}) == "yolo"
    assert segctl_detect_dataset("d.yaml", {"train": "ann/instances_train.json", "val": "x.json"}) is None
    assert segctl_detect_dataset("d.yaml", {"format": "coco", "train": "a"}) is None
    assert segctl_detect_dataset("d.yaml", {"train": {"json": "a.json", "images": "i"}, "val": "x"}) is None
    ds.add("a")
    assert segctl_detect_dataset(str(ds.root), None) == "yolo"
    assert segctl_detect_dataset(str(tmp_path), None) is None


def test_plugin_module_is_light():
    import subprocess
    import sys

    code = ("import sys, segctl_dataset_yolo.plugin; "
            "print(any(m in sys.modules for m in ('numpy', 'cv2', 'torch', 'PIL')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
