"""Conformance check for trackers (``segctl_register_trackers``), for plugin authors' tests.

Why a shared check: the task's ``track`` mode relies on a small protocol (see docs/hooks.md); a
tracker that returns rows in another layout, reuses ids after ``reset`` or points at the wrong
detection would silently attach masks to the wrong objects. The toy scene is two boxes moving
apart on straight lines, which every reasonable tracker follows.
"""
from __future__ import annotations

from typing import Any


def check_tracker(spec: Any, cfg: dict | None = None, frame_rate: float = 30.0) -> None:
    """Raise ``AssertionError`` if the tracker named by ``spec`` (a :class:`segctl.specs.TrackerSpec`)
    does not honour the protocol: rows ``[x1, y1, x2, y2, id, score, class, det_index]`` whose
    ``det_index`` points at a detection of this frame and whose box/score/class are that
    detection's; positive ids, unique within a frame, stable for the toy scene's two objects;
    an empty frame gives an empty ``[0, 8]`` array; ``reset()`` starts ids afresh."""
    import numpy as np

    cls = spec.load()
    tracker = cls(dict(cfg or {}), frame_rate)
    image = np.zeros((200, 300, 3), np.uint8)

    def frame(f: int, flip: bool):
        boxes = np.array([[20 + 3 * f, 40, 50 + 3 * f, 70], [200 - 3 * f, 120, 240 - 3 * f, 170]], float)
        scores, classes = np.array([0.9, 0.8]), np.array([0, 1])
        masks = np.zeros((2, 200, 300), bool)
        for k, b in enumerate(boxes.astype(int)):
            masks[k, b[1]:b[3], max(b[0], 0):b[2]] = True
        order = [1, 0] if flip else [0, 1]
        return boxes[order], scores[order], classes[order], masks[order]

    ids_by_class: dict[int, set] = {0: set(), 1: set()}
    for f in range(12):
        boxes, scores, classes, masks = frame(f, flip=f % 2 == 1)
        rows = np.asarray(tracker.update(boxes, scores, classes, masks=masks, image=image))
        assert rows.ndim == 2 and rows.shape[1] == 8, f"{spec.name}: update() must return [m, 8] rows, got {rows.shape}"
        ids = rows[:, 4].astype(int)
        assert (ids > 0).all() and len(set(ids.tolist())) == len(ids), f"{spec.name}: ids must be positive and unique"
        for r in rows:
            k = int(r[7])
            assert 0 <= k < len(boxes), f"{spec.name}: det_index {k} is not a detection of this frame"
            assert np.allclose(r[:4], boxes[k], atol=1e-3), f"{spec.name}: the row's box is not its detection's"
            assert abs(r[5] - scores[k]) < 1e-6 and int(r[6]) == int(classes[k]), f"{spec.name}: score/class differ"
            ids_by_class[int(classes[k])].add(int(r[4]))
        if f >= 2:
            assert len(rows) == 2, f"{spec.name}: frame {f}: {len(rows)} rows for 2 clearly visible objects"
    assert all(len(v) == 1 for v in ids_by_class.values()) and ids_by_class[0] != ids_by_class[1], \
        f"{spec.name}: ids of the two toy objects changed: {ids_by_class}"
    empty = np.asarray(tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0), masks=None, image=image))
    assert empty.shape == (0, 8), f"{spec.name}: a frame without detections must give a [0, 8] array"
    tracker.reset()
    boxes, scores, classes, masks = frame(0, False)
    rows = np.asarray(tracker.update(boxes, scores, classes, masks=masks, image=image))
    assert sorted(rows[:, 4].astype(int).tolist()) == [1, 2], f"{spec.name}: after reset() ids must start at 1"
