"""segctl's own COCO-style AP agrees with pycocotools' COCOeval (within 1 point, boxes and masks)
on the built-in demo set in COCO format, with a model that really detects (the reference-trained
fixture checkpoint), and val on the ONNX export of that model agrees with val on the .pt."""
from pathlib import Path

import pytest

from segctl import YOLO

FIX = Path(__file__).resolve().parent / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"


@pytest.fixture(scope="module")
def coco_data(tmp_path_factory):
    from segctl_dataset_shapes.generate import generate

    root = tmp_path_factory.mktemp("shapes")
    generate(root, n_train=4, n_val=24, imgsz=320, seed=3)
    return root / "data-coco.yaml"


@pytest.mark.slow
def test_own_map_agrees_with_cocoeval(coco_data, tmp_path):
    m = YOLO(str(FIX)).val(data=str(coco_data), imgsz=320, batch=8, save_json=True, plots=False,
                           project=str(tmp_path), name="v")
    print(f"segctl box {m.box.map:.4f} mask {m.seg.map:.4f} | COCOeval box {m.coco['bbox_mAP50-95']:.4f} "
          f"mask {m.coco['segm_mAP50-95']:.4f}")
    assert m.box.map > 0.05 and m.seg.map > 0.05  # a real detector, not an empty comparison
    assert abs(m.box.map - m.coco["bbox_mAP50-95"]) <= 0.01
    assert abs(m.seg.map - m.coco["segm_mAP50-95"]) <= 0.01


@pytest.mark.slow
def test_onnx_artifact_val_matches_pytorch(coco_data, tmp_path):
    src = tmp_path / "best.pt"
    src.write_bytes(FIX.read_bytes())
    yolo_yaml = str(coco_data).replace("data-coco.yaml", "data.yaml")
    onnx = YOLO(str(src)).export(format="onnx", imgsz=320, dynamic=True)
    kw = dict(data=yolo_yaml, imgsz=320, batch=8, plots=False, project=str(tmp_path))
    pt = YOLO(str(src)).val(name="pt", **kw)
    ox = YOLO(onnx).val(name="onnx", **kw)
    print(f"mask mAP50-95 .pt {pt.seg.map:.4f} .onnx {ox.seg.map:.4f}; box {pt.box.map:.4f} {ox.box.map:.4f}")
    assert abs(pt.seg.map - ox.seg.map) <= 0.005 and abs(pt.box.map - ox.box.map) <= 0.005
