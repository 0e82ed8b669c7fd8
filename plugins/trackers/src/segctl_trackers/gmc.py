"""Global (camera) motion between consecutive frames, as a 2x3 affine matrix.

Why: when the camera pans, every object moves in the image although none moves in the world; a
Kalman filter that does not know about it predicts boxes where the objects no longer are. BoT-SORT
(Aharon et al., 2022) estimates the camera motion and moves every predicted track with it.

Methods: ``sparseOptFlow`` (corners tracked by pyramidal Lucas-Kanade, then a RANSAC similarity
fit: fast and robust to moving objects) and ``ecc`` (OpenCV's enhanced-correlation alignment of
the whole frame, Euclidean model: slower, good on texture-poor scenes). Both run on a grey image
shrunk by ``downscale``; a failed estimate is the identity (tracking goes on, uncompensated).
"""
from __future__ import annotations

import cv2
import numpy as np


class GMC:
    """``GMC(method, downscale).apply(bgr) -> [2, 3]`` motion from the previous frame to this one."""

    def __init__(self, method: str = "sparseOptFlow", downscale: int = 2):
        if method not in ("sparseOptFlow", "ecc", "none"):
            from segctl.errors import ConfigError

            raise ConfigError(f"gmc_method: unknown method {method!r}", hint="use sparseOptFlow, ecc or none")
        self.method, self.downscale = method, max(int(downscale), 1)
        self.reset()

    def reset(self) -> None:
        self.prev = None
        self.prev_pts = None
        self.last = np.eye(2, 3)  # the previous estimate (at the shrunk scale)

    def _gray(self, image: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        if self.downscale > 1:
            g = cv2.resize(g, (g.shape[1] // self.downscale, g.shape[0] // self.downscale),
                           interpolation=cv2.INTER_AREA)
        return g

    def _ecc(self, prev: np.ndarray, now: np.ndarray) -> np.ndarray:
        """Coarse-to-fine ECC (Euclidean). ECC only converges for small shifts, so it is solved on
        an image pyramid (down to ~32 px), each level starting from the coarser estimate, from two
        starting points -- no motion, and the previous frame's motion (pans are smooth) -- keeping
        the better-correlated result."""
        pyr = [(prev, now)]
        while min(pyr[-1][0].shape) >= 64:
            pyr.append((cv2.pyrDown(pyr[-1][0]), cv2.pyrDown(pyr[-1][1])))
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
        best, best_rho = np.eye(2, 3), -1.0
        for init in (np.eye(2, 3), self.last):
            warp = init.astype(np.float32).copy()
            warp[:, 2] /= 2 ** (len(pyr) - 1)
            rho = -1.0
            for level, (p, n) in enumerate(reversed(pyr)):
                if level:
                    warp[:, 2] *= 2
                try:
                    # the warp W satisfies now(W x) = prev(x): it maps previous-frame points to this frame
                    rho, warp = cv2.findTransformECC(p, n, warp.copy(), cv2.MOTION_EUCLIDEAN, crit, None, 1)
                except cv2.error:  # no convergence at this level: keep the coarser estimate
                    rho = -1.0
            if rho > best_rho:
                best, best_rho = warp.astype(np.float64), rho
        self.last = best
        return best

    def apply(self, image: np.ndarray | None) -> np.ndarray:
        eye = np.eye(2, 3)
        if image is None or self.method == "none":
            return eye
        g = self._gray(np.asarray(image))
        prev, self.prev = self.prev, g
        if prev is None or prev.shape != g.shape:
            self.prev_pts = None
            if self.method == "sparseOptFlow":
                self.prev_pts = cv2.goodFeaturesToTrack(g, maxCorners=1000, qualityLevel=0.01, minDistance=1,
                                                        blockSize=3)
            return eye
        A = eye
        if self.method == "ecc":
            A = self._ecc(prev, g)
        else:
            pts = self.prev_pts
            if pts is not None and len(pts) >= 4:
                nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, g, pts, None)
                ok = st.reshape(-1).astype(bool)
                if ok.sum() >= 4:
                    M, _ = cv2.estimateAffinePartial2D(pts[ok], nxt[ok], method=cv2.RANSAC)
                    if M is not None:
                        A = M.astype(np.float64)
            self.prev_pts = cv2.goodFeaturesToTrack(g, maxCorners=1000, qualityLevel=0.01, minDistance=1,
                                                    blockSize=3)
        A = A.copy()
        A[:, 2] *= self.downscale
        return A
