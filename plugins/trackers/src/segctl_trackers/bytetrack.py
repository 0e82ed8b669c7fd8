"""ByteTrack: associate every detection box, not only the confident ones.

The method (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection Box",
ECCV 2022): predict each track with a Kalman filter; match confident detections to tracked and
recently lost tracks by IoU; match the remaining *tracked* tracks to low-confidence detections (an
occluded object's score drops before it disappears); confirm new tracks on their second match;
forget lost tracks after ``track_buffer`` frames.

segctl specifics: the output box is the matched detection's box (so the detection's mask fits it
exactly) and every output row names its detection (``det_index``), so the caller attaches that
detection's mask: a track's mask is never dropped or borrowed from another frame. ``mask_iou``
blends mask IoU into the association cost (see :mod:`.matching`).
"""
from __future__ import annotations

import numpy as np

from .config import merge
from .kalman import KalmanXYWH, xywh_to_xyxy, xyxy_to_xywh
from .matching import MaskCrop, box_iou, crop_iou, linear_assignment

NEW, TRACKED, LOST, REMOVED = 0, 1, 2, 3


class Track:
    """One tracked object: Kalman state, last detection, score, class, mask and bookkeeping."""

    def __init__(self, box: np.ndarray, score: float, cls: int, det: int, mask: MaskCrop | None):
        self.xyxy = np.asarray(box, dtype=np.float64)
        self.score, self.cls, self.det = float(score), int(cls), int(det)
        self.mask = mask
        self.mask_center = xyxy_to_xywh(self.xyxy)[:2]
        self.mean = self.cov = None
        self.id = 0
        self.state = NEW
        self.activated = False
        self.frame = self.start = 0
        self.hits = 0
        self.feature = None

    @property
    def predicted_xyxy(self) -> np.ndarray:
        """The Kalman state as an xyxy box (where the track is expected in this frame)."""
        return xywh_to_xyxy(self.mean[:4]) if self.mean is not None else self.xyxy

    def take(self, other: "Track", frame: int) -> None:
        """Take the detection ``other`` (a candidate made from this frame's detection)."""
        self.xyxy, self.score, self.cls, self.det = other.xyxy, other.score, other.cls, other.det
        if other.mask is not None:
            self.mask, self.mask_center = other.mask, xyxy_to_xywh(other.xyxy)[:2]
        if other.feature is not None:
            self.feature = other.feature if self.feature is None else 0.9 * self.feature + 0.1 * other.feature
            self.feature = self.feature / max(np.linalg.norm(self.feature), 1e-12)
        self.frame = frame
        self.hits += 1


class ByteTrack:
    """``ByteTrack(cfg, frame_rate)``; ``update(boxes, scores, classes, masks, image)`` per frame
    → rows ``[x1, y1, x2, y2, track_id, score, class, det_index]`` of the tracks matched now."""

    name = "bytetrack"

    def __init__(self, cfg: dict | None = None, frame_rate: float = 30.0):
        self.args = merge(self.name, cfg)
        self.frame_rate = float(frame_rate or 30.0)
        self.max_lost = max(int(round(self.frame_rate / 30.0 * self.args["track_buffer"])), 1)
        self.kf = KalmanXYWH()
        self.uses_masks = float(self.args.get("mask_iou", 0.0)) > 0
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids start again at 1 (a new video)."""
        self.tracked: list[Track] = []
        self.lost: list[Track] = []
        self.frame_id = 0
        self._next_id = 0

    # ------------------------------------------------------------------ hooks for subclasses
    def compensate(self, tracks: list[Track], image) -> None:
        """Camera-motion compensation of the predicted states (none in ByteTrack)."""

    def describe(self, cands: list[Track], image) -> None:
        """Appearance features of this frame's candidates (none in ByteTrack)."""

    def extra_cost(self, tracks: list[Track], cands: list[Track], cost: np.ndarray, iou: np.ndarray) -> np.ndarray:
        """Change the first association's cost matrix (BoT-SORT adds appearance)."""
        return cost

    # ------------------------------------------------------------------ association
    def _cost(self, tracks: list[Track], cands: list[Track], fuse: bool, use_masks: bool):
        iou = box_iou(np.array([t.predicted_xyxy for t in tracks]).reshape(-1, 4),
                      np.array([c.xyxy for c in cands]).reshape(-1, 4))
        sim = iou
        w = float(self.args.get("mask_iou", 0.0))
        if use_masks and w > 0 and iou.size:
            miou = np.zeros_like(iou)
            for i, j in zip(*np.nonzero(iou > 0)):
                t, c = tracks[i], cands[j]
                if t.mask is None or c.mask is None:
                    miou[i, j] = iou[i, j]
                    continue
                shift = t.mean[:2] - t.mask_center if t.mean is not None else np.zeros(2)
                miou[i, j] = crop_iou(t.mask, c.mask, int(round(shift[0])), int(round(shift[1])))
            sim = (1 - w) * iou + w * miou
        if fuse and sim.size:
            sim = sim * np.array([c.score for c in cands])[None]
        return 1.0 - sim, iou

    def _predict(self, tracks: list[Track]) -> None:
        if not tracks:
            return
        mean = np.stack([t.mean for t in tracks])
        cov = np.stack([t.cov for t in tracks])
        for t, m in zip(tracks, mean):
            if t.state != TRACKED:
                m[6:8] = 0.0  # a lost track keeps its size (a shrinking box while it was being hidden would vanish)
        mean, cov = self.kf.predict(mean, cov)
        for t, m, c in zip(tracks, mean, cov):
            t.mean, t.cov = m, c

    def _apply(self, track: Track, cand: Track) -> None:
        track.mean, track.cov = self.kf.update(track.mean, track.cov, xyxy_to_xywh(cand.xyxy))
        track.take(cand, self.frame_id)
        track.state, track.activated = TRACKED, True

    def _start(self, cand: Track) -> None:
        self._next_id += 1
        cand.id = self._next_id
        cand.mean, cand.cov = self.kf.initiate(xyxy_to_xywh(cand.xyxy))
        cand.state, cand.frame, cand.start, cand.hits = TRACKED, self.frame_id, self.frame_id, 1
        cand.activated = self.frame_id == 1  # others are confirmed by their second match

    # ------------------------------------------------------------------ the step
    def update(self, boxes, scores, classes, masks=None, image=None) -> np.ndarray:
        """Advance one frame. ``boxes [n, 4]`` xyxy pixels, ``scores [n]``, ``classes [n]``,
        ``masks [n, H, W]`` binary (used only when ``mask_iou > 0``), ``image`` BGR (used by
        camera-motion compensation). Returns ``float [m, 8]``."""
        self.frame_id += 1
        a = self.args
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        classes = np.asarray(classes).reshape(-1)
        use_masks = self.uses_masks and masks is not None and len(masks) == len(boxes)
        cands = [Track(boxes[k], scores[k], classes[k], k, MaskCrop(masks[k]) if use_masks else None)
                 for k in range(len(boxes))]
        high = [c for c in cands if c.score >= a["track_high_thresh"]]
        low = [c for c in cands if a["track_low_thresh"] < c.score < a["track_high_thresh"]]
        self.describe(high, image)

        confirmed = [t for t in self.tracked if t.activated]
        unconfirmed = [t for t in self.tracked if not t.activated]
        pool = confirmed + self.lost
        self._predict(pool + unconfirmed)
        self.compensate(pool + unconfirmed, image)

        # 1) confident detections against tracked and lost tracks
        cost, iou = self._cost(pool, high, bool(a["fuse_score"]), use_masks)
        cost = self.extra_cost(pool, high, cost, iou)
        matches, u_pool, u_high = linear_assignment(cost, float(a["match_thresh"]))
        now: list[Track] = []
        for i, j in matches:
            self._apply(pool[i], high[j])
            now.append(pool[i])
        # 2) weak detections against the tracks still unmatched that were tracked last frame
        rest = [pool[i] for i in u_pool if pool[i].state == TRACKED]
        cost2, _ = self._cost(rest, low, False, False)
        m2, u_rest, _ = linear_assignment(cost2, 0.5)
        for i, j in m2:
            self._apply(rest[i], low[j])
            now.append(rest[i])
        for i in u_rest:
            rest[i].state = LOST
        # 3) tentative tracks against the confident detections left over
        left = [high[j] for j in u_high]
        cost3, _ = self._cost(unconfirmed, left, bool(a["fuse_score"]), use_masks)
        m3, u_unconf, u_left = linear_assignment(cost3, 0.7)
        for i, j in m3:
            self._apply(unconfirmed[i], left[j])
            now.append(unconfirmed[i])
        for i in u_unconf:
            unconfirmed[i].state = REMOVED
        # 4) new tracks
        for j in u_left:
            c = left[j]
            if c.score >= a["new_track_thresh"]:
                self._start(c)
                now.append(c)

        alive = [t for t in self.tracked + self.lost + now if t.state != REMOVED]
        seen: set[int] = set()
        self.tracked, self.lost = [], []
        for t in alive:
            if id(t) in seen:
                continue
            seen.add(id(t))
            if t.state == TRACKED:
                self.tracked.append(t)
            elif t.state == LOST and self.frame_id - t.frame <= self.max_lost:
                self.lost.append(t)
        out = [t for t in self.tracked if t.activated and t.frame == self.frame_id]
        if not out:
            return np.zeros((0, 8))
        return np.array([[*t.xyxy, t.id, t.score, t.cls, t.det] for t in out], dtype=np.float64)
