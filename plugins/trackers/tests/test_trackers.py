"""Trackers on synthetic detection sequences: crossing, occlusion, re-entry, masks, camera pan."""
import numpy as np
import pytest

from segctl.errors import ConfigError
from segctl_trackers.botsort import BoTSORT
from segctl_trackers.bytetrack import ByteTrack
from segctl_trackers.matching import linear_assignment

from trackers_synth import bar_mask, run, sequence

TRACKERS = [ByteTrack, BoTSORT]


def id_switches(frames):
    """Number of times a ground-truth object's track id changes (the MOT 'IDSW' count)."""
    last, n = {}, 0
    for m in frames:
        for gt, tid in m.items():
            if gt in last and last[gt] != tid:
                n += 1
            last[gt] = tid
    return n


@pytest.mark.parametrize("cls", TRACKERS)
def test_ids_stable_through_a_crossing(cls):
    # two same-size objects on a collision course: their boxes overlap completely mid-way
    objs = [(20, 100, 6, 0.5, 15, 0), (300, 110, -6, -0.5, 15, 0)]
    frames = run(cls({}), sequence(objs, 50))
    assert all(len(m) == 2 for m in frames[1:])
    assert id_switches(frames) == 0
    assert frames[-1] == {1: frames[1][1], 2: frames[1][2]} and frames[1][1] != frames[1][2]


@pytest.mark.parametrize("cls", TRACKERS)
def test_short_occlusion_keeps_the_id(cls):
    objs = [(20, 60, 5, 1, 14, 1), (250, 180, -4, 0, 14, 2)]
    hidden = {0: set(range(15, 22))}  # object 1 invisible for 7 frames, then back where it should be
    frames = run(cls({}), sequence(objs, 40, hidden=hidden))
    assert 1 not in frames[18] and frames[25][1] == frames[10][1]
    assert id_switches(frames) == 0


@pytest.mark.parametrize("cls", TRACKERS)
def test_reentry_after_the_buffer_is_a_new_track(cls):
    objs = [(20, 60, 3, 0, 14, 1)]
    t = cls({"track_buffer": 5})
    frames = run(t, sequence(objs, 40, hidden={0: set(range(10, 20))}))
    assert frames[25][1] != frames[5][1]  # forgotten after 5 frames: a new id, never a recycled one
    assert frames[25][1] > frames[5][1]


def test_new_tracks_are_confirmed_on_their_second_match():
    t = ByteTrack({})
    seq = list(sequence([(50, 50, 2, 0, 10, 0)], 3))
    assert len(t.update(*seq[0][:3])) == 1  # the first frame confirms at once
    t2 = ByteTrack({})
    t2.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    assert len(t2.update(*seq[0][:3])) == 0 and len(t2.update(*seq[1][:3])) == 1


def test_low_confidence_detections_keep_a_track_alive():
    t = ByteTrack({})
    box = np.array([[10, 10, 40, 40]], float)
    ids = []
    for f in range(10):
        score = 0.9 if f < 5 else 0.15  # the object's score drops (partial occlusion)
        rows = t.update(box + 2 * f, np.array([score]), np.array([0]))
        ids.append(int(rows[0, 4]) if len(rows) else None)
    assert ids == [1] * 10


def test_rows_name_their_detection_and_copy_its_box_score_class():
    t = ByteTrack({})
    boxes = np.array([[0, 0, 10, 10], [50, 50, 70, 80]], float)
    rows = t.update(boxes, np.array([0.5, 0.9]), np.array([3, 4]))
    assert rows.shape == (2, 8)
    for r in rows:
        k = int(r[7])
        assert np.allclose(r[:4], boxes[k]) and r[6] == [3, 4][k] and r[5] == [0.5, 0.9][k]


def _xbars(n, jitter, seed=0):
    """Two co-located bars forming an X ('/' and '\\'): identical boxes, different masks, each box
    jittered by a few pixels per frame -- boxes alone cannot tell them apart, masks can."""
    rng = np.random.default_rng(seed)
    h = w = 120
    for f in range(n):
        order = rng.permutation(2)
        boxes, masks = [], []
        for k in order:
            cx, cy = 60 + f * 0.5, 60
            boxes.append([cx - 25, cy - 25, cx + 25, cy + 25] + rng.uniform(-jitter, jitter, 4))
            masks.append(bar_mask(h, w, cx, cy, 25, -1 if k == 0 else 1))
        yield np.array(boxes), np.full(2, 0.9), np.zeros(2), np.array(masks), [k + 1 for k in order]


def test_mask_aware_association_separates_objects_that_boxes_cannot():
    box_only = id_switches(run(ByteTrack({}), _xbars(40, 4)))
    with_masks = run(ByteTrack({"mask_iou": 0.8}), _xbars(40, 4))
    assert box_only > 0, "the scene must be ambiguous for boxes"
    assert id_switches(with_masks) == 0 and all(len(m) == 2 for m in with_masks)


def _panning(n, jerk_at, pan):
    """Textured scene, three objects fixed in the world; the camera jerks sideways by ``pan`` px
    per frame from ``jerk_at`` on, so the objects jump in the image."""
    rng = np.random.default_rng(1)
    world = (rng.random((300, 900)) * 255).astype(np.uint8)
    import cv2

    world = cv2.GaussianBlur(world, (0, 0), 4)
    world = cv2.cvtColor(world, cv2.COLOR_GRAY2BGR)
    objs = [(380, 80), (450, 150), (520, 220)]
    x = 300.0
    for f in range(n):
        if f >= jerk_at:
            x += pan
        xi = int(round(x))
        img = np.ascontiguousarray(world[:, xi:xi + 320])
        boxes = np.array([[ox - xi - 12, oy - 12, ox - xi + 12, oy + 12] for ox, oy in objs], float)
        yield img, boxes


@pytest.mark.parametrize("method", ["sparseOptFlow", "ecc"])
def test_camera_motion_compensation_keeps_ids_through_a_pan(method):
    def ids(tracker):
        out = []
        for img, boxes in _panning(16, 8, 30):
            rows = tracker.update(boxes, np.full(3, 0.9), np.zeros(3), image=img)
            out.append(sorted(int(r[4]) for r in rows))
        return out

    plain = ids(ByteTrack({}))
    comp = ids(BoTSORT({"gmc_method": method}))
    assert plain[-1] != [1, 2, 3], "a 30 px jump must defeat motion-only association"
    assert comp[-1] == [1, 2, 3]


def test_appearance_hook_is_off_by_default_and_used_when_set():
    calls = []

    def encoder(image, boxes):
        calls.append(len(boxes))
        return np.tile([1.0, 0.0], (len(boxes), 1))

    img = np.zeros((64, 64, 3), np.uint8)
    t = BoTSORT({"gmc_method": "none"}, encoder=encoder)
    t.update(np.array([[0, 0, 10, 10]], float), np.array([0.9]), np.array([0]), image=img)
    assert calls == []
    t = BoTSORT({"gmc_method": "none", "with_reid": True}, encoder=encoder)
    t.update(np.array([[0, 0, 10, 10]], float), np.array([0.9]), np.array([0]), image=img)
    assert calls == [1]


def test_reset_restarts_ids():
    t = ByteTrack({})
    seq = list(sequence([(50, 50, 2, 0, 10, 0), (150, 50, 2, 0, 10, 0)], 3))
    for s in seq:
        t.update(*s[:3])
    t.reset()
    assert sorted(t.update(*seq[0][:3])[:, 4].tolist()) == [1, 2]


def test_unknown_or_mistyped_keys_are_refused():
    with pytest.raises(ConfigError, match="did you mean 'track_buffer'"):
        ByteTrack({"track_bufer": 60})
    with pytest.raises(ConfigError, match="must be bool"):
        ByteTrack({"fuse_score": "yes"})
    with pytest.raises(ConfigError, match="gmc_method"):
        ByteTrack({"gmc_method": "ecc"})  # a BoT-SORT key is not a ByteTrack key
    with pytest.raises(ConfigError, match="unknown method"):
        BoTSORT({"gmc_method": "orb"})


def test_lap_and_scipy_solvers_agree(monkeypatch):
    rng = np.random.default_rng(3)
    cost = rng.random((7, 5))
    a = linear_assignment(cost, 0.6)
    import builtins

    real = builtins.__import__

    def no_lap(name, *args, **kw):
        if name == "lap":
            raise ImportError("no lap")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_lap)
    b = linear_assignment(cost, 0.6)
    assert sorted(map(tuple, a[0])) == sorted(map(tuple, b[0])) and len(a[0]) > 0


@pytest.mark.parametrize("name", ["bytetrack", "botsort"])
def test_conformance(name, segctl_session_factory):
    from segctl.testing import check_tracker

    session = segctl_session_factory("trackers")
    check_tracker(session.registry.get("trackers", name))
    check_tracker(session.registry.get("trackers", name), cfg={"mask_iou": 0.5})


def test_registration_is_light_and_configs_are_packaged():
    import subprocess
    import sys

    code = ("import sys; from segctl.session import Session; s = Session.create(only=('trackers',)); "
            "p = [t.config_path() for t in s.registry.all('trackers')]; "
            "import os; assert all(os.path.isfile(x) for x in p), p; "
            "assert not {'numpy', 'cv2', 'scipy', 'torch'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
