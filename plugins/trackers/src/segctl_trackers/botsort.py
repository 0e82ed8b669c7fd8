"""A BoT-SORT-style tracker: ByteTrack's association plus camera-motion compensation and an
optional appearance cue (after Aharon et al., "BoT-SORT: Robust Associations Multi-Pedestrian
Tracking", 2022).

Camera motion (:mod:`.gmc`) moves every predicted track before association. Appearance is off by
default: set ``with_reid: true`` and give the tracker an ``encoder`` -- a callable ``(image BGR,
boxes xyxy [n, 4]) -> float [n, d]`` -- from Python (``tracker.encoder = fn``); then a pair whose
IoU passes ``proximity_thresh`` may also match on cosine distance up to ``appearance_thresh``
(the cost is the smaller of the two). Nothing is imported from configuration text, so a tracker
YAML can never make segctl run code.
"""
from __future__ import annotations

import numpy as np

from .bytetrack import ByteTrack
from .gmc import GMC


class BoTSORT(ByteTrack):
    name = "botsort"

    def __init__(self, cfg: dict | None = None, frame_rate: float = 30.0, encoder=None):
        super().__init__(cfg, frame_rate)
        self.gmc = GMC(self.args["gmc_method"], self.args["gmc_downscale"])
        self.encoder = encoder

    def reset(self) -> None:
        super().reset()
        if hasattr(self, "gmc"):
            self.gmc.reset()

    @property
    def _reid(self) -> bool:
        return bool(self.args["with_reid"]) and self.encoder is not None

    def compensate(self, tracks, image) -> None:
        A = self.gmc.apply(image)
        if np.allclose(A, np.eye(2, 3)) or not tracks:
            return
        R, t = A[:, :2], A[:, 2]
        s = float(np.sqrt(abs(np.linalg.det(R))))
        J = np.zeros((8, 8))
        J[0:2, 0:2] = R
        J[4:6, 4:6] = R
        J[2, 2] = J[3, 3] = J[6, 6] = J[7, 7] = s
        for tr in tracks:
            m = J @ tr.mean
            m[:2] += t
            tr.mean, tr.cov = m, J @ tr.cov @ J.T  # mask_center stays: the mask moves with the state

    def describe(self, cands, image) -> None:
        if not self._reid or not cands or image is None:
            return
        feats = np.asarray(self.encoder(image, np.array([c.xyxy for c in cands])), dtype=np.float64)
        for c, f in zip(cands, feats):
            c.feature = f / max(np.linalg.norm(f), 1e-12)

    def extra_cost(self, tracks, cands, cost, iou):
        if not self._reid or not cost.size:
            return cost
        emb = np.ones_like(cost)
        for i, t in enumerate(tracks):
            if t.feature is None:
                continue
            for j, c in enumerate(cands):
                if c.feature is not None:
                    emb[i, j] = 1.0 - float(t.feature @ c.feature)
        emb[(emb > self.args["appearance_thresh"]) | (iou < self.args["proximity_thresh"])] = 1.0
        return np.minimum(cost, emb)
