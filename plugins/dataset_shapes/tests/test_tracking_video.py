"""The moving-shapes tracking video: deterministic frames and MOT ground truth that match them."""
import cv2
import numpy as np

from segctl_dataset_shapes.video import make_tracking_video


def test_video_and_ground_truth(tmp_path):
    a = make_tracking_video(tmp_path / "a", n_frames=30, size=160, n_objects=6, pan=2, shake=3, seed=1, masks=True)
    b = make_tracking_video(tmp_path / "b", n_frames=30, size=160, n_objects=6, pan=2, shake=3, seed=1)
    assert (tmp_path / "a/gt/gt.txt").read_bytes() == (tmp_path / "b/gt/gt.txt").read_bytes()
    rows = np.loadtxt(a["gt"], delimiter=",").reshape(-1, 9)
    assert rows[:, 0].min() == 1 and rows[:, 0].max() <= 30 and len(np.unique(rows[:, 1])) >= 3
    assert ((rows[:, 8] >= 0.2) & (rows[:, 8] <= 1.0)).all()
    cap = cv2.VideoCapture(a["video"])
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    cap.release()
    masks = np.load(a["masks"])
    h, w = masks["shape"]
    for f, i, x, y, bw, bh, *_ in rows[:10]:
        m = np.unpackbits(masks[f"f{int(f)}_id{int(i)}"])[: h * w].reshape(h, w)
        ys, xs = np.nonzero(m)
        assert (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == (x, y, bw, bh)


def test_demo_video_command(segctl_cli, tmp_path):
    code, out, err = segctl_cli("data", "demo-video", str(tmp_path / "v"), "--frames", "5", "--size", "96")
    assert code == 0 and "ground truth (MOT)" in out
    assert len((tmp_path / "v/gt/gt.txt").read_text().splitlines()) > 0
