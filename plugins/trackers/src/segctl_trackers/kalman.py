"""Constant-velocity Kalman filter on boxes, vectorised over tracks.

State ``[cx, cy, w, h, vcx, vcy, vw, vh]``; measurement ``[cx, cy, w, h]``. Noise is proportional
to the box size (the SORT / DeepSORT formulation: position std 1/20 and velocity std 1/160 of the
side), so small and large objects are equally trusted relative to their size. Width and height
are tracked directly (not aspect ratio), which suits shapes whose aspect changes as they turn.
"""
from __future__ import annotations

import numpy as np

W_POS, W_VEL = 1.0 / 20, 1.0 / 160


class KalmanXYWH:
    """Predict/update for ``n`` tracks at once (``mean [n, 8]``, ``cov [n, 8, 8]``)."""

    def __init__(self):
        self.F = np.eye(8)
        self.F[:4, 4:] = np.eye(4)
        self.H = np.eye(4, 8)

    @staticmethod
    def initiate(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New state from one measurement ``z [4]``: zero velocity, wide velocity uncertainty."""
        w, h = max(z[2], 1.0), max(z[3], 1.0)
        std = np.array([2 * W_POS * w, 2 * W_POS * h, 2 * W_POS * w, 2 * W_POS * h,
                        10 * W_VEL * w, 10 * W_VEL * h, 10 * W_VEL * w, 10 * W_VEL * h])
        return np.r_[z, np.zeros(4)].astype(np.float64), np.diag(std ** 2)

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One time step for every track."""
        if not len(mean):
            return mean, cov
        wh = np.maximum(mean[:, 2:4], 1.0)
        sz = np.concatenate([wh, wh], 1)
        q = np.concatenate([(W_POS * sz) ** 2, (W_VEL * sz) ** 2], 1)
        mean = mean @ self.F.T
        cov = self.F @ cov @ self.F.T
        cov[:, np.arange(8), np.arange(8)] += q
        return mean, cov

    def update(self, mean: np.ndarray, cov: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct one track's state with its matched measurement ``z [4]``."""
        wh = np.maximum(mean[2:4], 1.0)
        r = (W_POS * np.r_[wh, wh]) ** 2
        S = self.H @ cov @ self.H.T + np.diag(r)
        K = np.linalg.solve(S, (cov @ self.H.T).T).T
        mean = mean + K @ (z - self.H @ mean)
        cov = cov - K @ S @ K.T
        return mean, cov


def xyxy_to_xywh(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    return np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2,
                     b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]], -1)


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    return np.stack([b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2,
                     b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2], -1)
