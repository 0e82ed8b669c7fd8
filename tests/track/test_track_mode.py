"""Track mode end to end: the real predictor and track mode, a scripted detector backend and a
third-party tracker registered through the public hooks (track_fakes.py)."""
import json
import shutil

import cv2
import numpy as np
import pytest

import track_fakes
from track_fakes import damage_frame, scene, write_video


@pytest.fixture
def session():
    from segctl.session import Session

    return Session.create(extra=(("track_fakes", track_fakes),))


@pytest.fixture
def detector(tmp_path):
    p = tmp_path / "discs.blobdet"
    p.write_text(json.dumps({"score": 0.9}))
    return str(p)


@pytest.fixture
def video(tmp_path):
    frames, truth = scene()
    return write_video(tmp_path / "discs.avi", frames), frames, truth


def identities(results, truth, offset=0):
    """Per frame ``{true name: track id}``: each tracked box is given to the true disc whose centre
    lies inside it; also checks every box has its own mask, lying inside the box."""
    out = []
    for k, r in enumerate(results):
        t = truth[k + offset] if isinstance(truth, list) else truth(r)
        assert r.boxes.is_track and r.masks is not None and len(r.masks) == len(r.boxes)
        m = r.masks.at_orig()
        got = {}
        for j, (x1, y1, x2, y2, tid, conf, cls) in enumerate(r.boxes.data.tolist()):
            ys, xs = np.nonzero(m[j])
            assert len(xs) and x1 - 2 <= xs.mean() <= x2 + 2 and y1 - 2 <= ys.mean() <= y2 + 2, "mask left its box"
            inside = [n for n, (cx, cy) in t.items() if x1 - 3 <= cx <= x2 + 3 and y1 - 3 <= cy <= y2 + 3]
            if inside:  # the disc whose centre is nearest the box's centre (crossing discs share boxes)
                n = min(inside, key=lambda n: np.hypot(t[n][0] - (x1 + x2) / 2, t[n][1] - (y1 + y2) / 2))
                got.setdefault(n, int(tid))
        out.append(got)
    return out


def switches(frames):
    last, n = {}, 0
    for m in frames:
        for k, v in m.items():
            n += k in last and last[k] != v
            last[k] = v
    return n


@pytest.mark.parametrize("tracker", ["bytetrack", "botsort", "bytetrack.yaml"])
def test_ids_stable_through_crossing_occlusion_and_reentry(session, detector, video, tracker):
    from segctl import YOLO

    path, frames, truth = video
    results = YOLO(detector, session=session).track(path, tracker=tracker, verbose=False)
    assert len(results) == len(frames)
    ids = identities(results, truth)
    hidden = [k for k, t in enumerate(truth) if "C" not in t]
    assert hidden and hidden[-1] < len(truth) - 5, "the scene must hide C for a while, then show it again"
    assert all("C" not in ids[k] for k in hidden) and "C" in ids[-1]
    assert switches(ids) == 0, ids
    assert ids[-1]["A"] != ids[-1]["B"] != ids[-1]["C"] != ids[-1]["A"]
    assert {v for m in ids for v in m.values()} == {1, 2, 3}


def test_persist_keeps_state_between_calls_and_a_new_video_resets(session, detector, video, tmp_path):
    from segctl import YOLO

    path, frames, truth = video
    model = YOLO(detector, session=session)
    whole = [r.boxes.id.tolist() for r in model.track(path, verbose=False)]
    one_by_one = [model.track(im, persist=True, verbose=False)[0].boxes.id.tolist() for im in frames]
    assert one_by_one == whole  # frame-by-frame with persist=True is the same as the whole video
    fresh = [model.track(im, verbose=False)[0].boxes.id.tolist() for im in frames]
    assert all(sorted(ids) == list(range(1, len(ids) + 1)) for ids in fresh)  # no memory: 1..n every time
    assert fresh != whole
    # persist=True across two videos: the second one starts from a reset tracker
    other = shutil.copy(path, tmp_path / "again.avi")
    model.track(path, persist=True, verbose=False)
    again = [r.boxes.id.tolist() for r in model.track(other, persist=True, verbose=False, stream=True)]
    assert again == whole


def test_third_party_tracker_from_a_plugin(session, detector, video, tmp_path):
    from segctl import YOLO
    from segctl.testing import check_tracker

    check_tracker(session.registry.get("trackers", "centroid"))
    path, frames, truth = video
    cfg = tmp_path / "centroid.yaml"
    cfg.write_text("tracker_type: centroid\nmax_dist: 30\n")
    results = YOLO(detector, session=session).track(path, tracker=str(cfg), verbose=False)
    ids = identities(results, truth)
    assert switches(ids) == 0 and {v for m in ids for v in m.values()} == {1, 2, 3}
    assert results[0].speed["track"] >= 0


def test_damaged_video_frame_is_reported_and_skipped_without_losing_tracks(session, detector, video, tmp_path):
    from segctl import YOLO

    path, frames, truth = video
    damage_frame(path, 12)
    with pytest.warns(UserWarning, match="frame 13 is unreadable, skipped"):
        results = YOLO(detector, session=session).track(path, verbose=False, save_txt=True, project=str(tmp_path),
                                                        name="run")
    assert len(results) == len(frames) - 1
    assert [r.frame for r in results] == [f for f in range(1, len(frames) + 1) if f != 13]
    ids = identities(results, lambda r: truth[r.frame - 1])
    assert switches(ids) == 0 and {v for m in ids for v in m.values()} == {1, 2, 3}
    rows = (tmp_path / "run" / "labels" / "discs.txt").read_text().splitlines()
    assert {int(r.split(",")[0]) for r in rows} == set(range(1, 37)) - {13}  # MOT frame numbers stay true


def test_damaged_image_in_a_frame_folder_is_skipped_without_losing_tracks(session, detector, tmp_path):
    from segctl import YOLO

    frames, truth = scene()
    d = tmp_path / "frames"
    d.mkdir()
    for k, im in enumerate(frames):
        cv2.imwrite(str(d / f"{k + 1:06d}.png"), im)
    (d / "000013.png").write_bytes((d / "000013.png").read_bytes()[:200])  # truncated file
    with pytest.warns(UserWarning, match="000013.png"):
        results = YOLO(detector, session=session).track(str(d), verbose=False)
    assert [r.frame for r in results] == [f for f in range(1, 37) if f != 13]
    ids = identities(results, lambda r: truth[r.frame - 1])
    assert switches(ids) == 0 and {v for m in ids for v in m.values()} == {1, 2, 3}


def test_cli_track_saves_video_mot_rows_and_track_summary(session, detector, video, tmp_path, capsys, monkeypatch):
    from segctl.cli.task_cmd import run_task

    path, frames, truth = video
    run_task(session, "segment", "track", [f"model={detector}", f"source={path}", "tracker=botsort",
                                          "save_txt=true", f"project={tmp_path}", "name=cli"])
    out = tmp_path / "cli"
    assert (out / "discs.mp4").stat().st_size > 1000
    cap = cv2.VideoCapture(str(out / "discs.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(frames)
    cap.release()
    rows = [r.split(",") for r in (out / "labels" / "discs.txt").read_text().splitlines()]
    assert len(rows[0]) == 10 and {int(r[1]) for r in rows} == {1, 2, 3}
    tracks = json.loads((out / "tracks.json").read_text())
    assert sorted(t["id"] for t in tracks) == [1, 2, 3]
    a = next(t for t in tracks if t["first_frame"] == 1 and t["class"] == 0 and t["frames_seen"] == 36)
    assert a["last_frame"] == 36
    printed = capsys.readouterr().out
    assert "tracks" in printed and "frames seen" in printed


def test_unknown_tracker_is_a_usage_error_with_a_suggestion(session, detector, video):
    from segctl import YOLO
    from segctl.errors import UsageError

    with pytest.raises(UsageError, match="did you mean 'bytetrack'"):
        YOLO(detector, session=session).track(video[0], tracker="bytetrak", verbose=False)


def test_cli_unknown_tracker_key_exits_2(segctl_cli, tmp_path):
    bad = tmp_path / "t.yaml"
    bad.write_text("tracker_type: bytetrack\ntrack_bufer: 60\n")
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((64, 64, 3), 128, np.uint8))
    code, out, err = segctl_cli("segment", "track", "model=yolov8n-seg.yaml", f"source={img}", f"tracker={bad}",
                                "imgsz=64", f"project={tmp_path}")
    assert code == 2 and "track_buffer" in out + err and "Traceback" not in out + err
