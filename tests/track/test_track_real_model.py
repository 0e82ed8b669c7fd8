"""Track mode with a real trained checkpoint (the yolov8n-seg shapes fixture, torch backend): each
tracked box and mask is exactly one of the boxes and masks predict gives for the same frame."""
from pathlib import Path

import numpy as np
import pytest
import torch

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"


@pytest.mark.slow  # loads and runs a real checkpoint (about 2 s per frame on a busy 2-core machine)
def test_tracked_boxes_and_masks_are_the_predicted_ones(tmp_path):
    from segctl import YOLO
    from segctl_dataset_shapes.video import make_tracking_video

    paths = make_tracking_video(tmp_path / "v", n_frames=4, size=320, n_objects=8, pan=2, seed=3, frames=False)
    model = YOLO(str(FIX))
    pred = model.predict(paths["video"], imgsz=320, conf=0.05, verbose=False)
    low = tmp_path / "low.yaml"  # the fixture is weakly trained: its scores are low
    low.write_text("tracker_type: bytetrack\ntrack_high_thresh: 0.05\ntrack_low_thresh: 0.01\nnew_track_thresh: 0.05\n")
    tracked = model.track(paths["video"], imgsz=320, conf=0.05, tracker=str(low), verbose=False)
    assert len(pred) == len(tracked) == 4
    matched = 0
    for p, t in zip(pred, tracked):
        assert t.boxes.is_track and t.boxes.data.shape[1] == 7
        assert t.masks is not None and len(t.masks) == len(t.boxes) and t.speed["track"] >= 0
        ids = t.boxes.id.tolist()
        assert len(set(ids)) == len(ids) and all(i >= 1 for i in ids)
        for j in range(len(t)):
            k = int(torch.argmin((p.boxes.xyxy - t.boxes.xyxy[j]).abs().sum(1)))
            assert torch.allclose(p.boxes.xyxy[k], t.boxes.xyxy[j], atol=1e-3)
            assert float(p.boxes.conf[k]) == float(t.boxes.conf[j]) and float(p.boxes.cls[k]) == float(t.boxes.cls[j])
            assert np.array_equal(np.asarray(p.masks.data[k]), np.asarray(t.masks.data[j]))
            matched += 1
    assert matched > 0, "the checkpoint must find something on the video for this test to mean anything"
