"""``Results``: what ``model.predict`` returns for one image (boxes, masks, names, speed).

Why tensors inside and views outside: the predictor hands over device tensors without copies;
accessors (``xyxyn``, ``masks.xy``) compute on demand, and ``cpu()/numpy()/to()`` return new
objects so a caller can move results off the GPU without mutating the original.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from .annotate import color, default_line_width, draw_box_label, draw_masks
from .boxes import scale_coords, xyxy2xywh
from .masks_ops import masks2polygons, scale_masks


def _map(x, fn):
    return None if x is None else fn(x)


class _Tensors:
    """Device moves and conversions shared by :class:`Boxes` and :class:`Masks`: each returns a new
    object of the same kind (the reference's field objects behave so, and tools such as
    ``supervision`` call ``r.boxes.xyxy.cpu().numpy()`` or ``r.masks.cpu()``)."""

    data: torch.Tensor | np.ndarray
    orig_shape: tuple

    def _with(self, data):
        return type(self)(data, self.orig_shape)

    def cpu(self):
        return self._with(self.data.cpu() if isinstance(self.data, torch.Tensor) else self.data)

    def numpy(self):
        return self._with(self.data.detach().cpu().numpy() if isinstance(self.data, torch.Tensor) else self.data)

    def cuda(self):
        return self._with(torch.as_tensor(self.data).cuda())

    def to(self, *args, **kwargs):
        return self._with(torch.as_tensor(self.data).to(*args, **kwargs))


class Boxes(_Tensors):
    """``data [n, 6]`` (x1 y1 x2 y2 conf cls) or ``[n, 7]`` (.. track id, conf, cls) in original pixels."""

    def __init__(self, data, orig_shape):
        data = torch.as_tensor(data) if not isinstance(data, (torch.Tensor, np.ndarray)) else data
        if data.ndim == 1:
            data = data[None]
        self.data, self.orig_shape = data, tuple(orig_shape[:2])
        self.is_track = data.shape[-1] == 7

    xyxy = property(lambda self: self.data[:, :4])
    conf = property(lambda self: self.data[:, -2])
    cls = property(lambda self: self.data[:, -1])
    id = property(lambda self: self.data[:, -3] if self.is_track else None)
    shape = property(lambda self: self.data.shape)

    @property
    def xywh(self):
        return xyxy2xywh(self.xyxy)

    def _norm(self, b):
        h, w = self.orig_shape
        scale = [w, h, w, h]
        return b / (torch.tensor(scale, dtype=b.dtype, device=b.device) if isinstance(b, torch.Tensor)
                    else np.asarray(scale, dtype=np.float32))

    xyxyn = property(lambda self: self._norm(self.xyxy))
    xywhn = property(lambda self: self._norm(self.xywh))

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return Boxes(self.data[i], self.orig_shape)

    def __repr__(self):
        return f"Boxes(n={len(self)}, orig_shape={self.orig_shape})"


class Masks(_Tensors):
    """``data [n, H, W]`` float32 0/1 masks; at the original size (retina) or at the letterboxed input
    size, in which case polygons are mapped back to original coordinates.

    Why float32 and not bool: it is the layout users of the reference rely on -- OpenCV's ``resize``
    (used by ``supervision`` to bring masks to the image size) refuses bool arrays."""

    def __init__(self, data, orig_shape):
        data = data if data.ndim == 3 else data[None]
        if data.dtype in (torch.bool, np.bool_, torch.uint8, np.uint8):
            data = data.to(torch.float32) if isinstance(data, torch.Tensor) else data.astype(np.float32)
        self.data = data
        self.orig_shape = tuple(orig_shape[:2])

    shape = property(lambda self: self.data.shape)

    @property
    def xy(self) -> list:
        """Each mask as one ``(k, 2)`` float32 polygon in original pixels; a mask in several parts
        (an occluded object) keeps every part, joined by zero-width bridges, so the polygon covers
        the whole mask (``masks2polygons(strategy="largest")`` keeps only the biggest part)."""
        polys = masks2polygons(self.data, strategy="all")
        in_shape = tuple(self.data.shape[-2:])
        if in_shape == self.orig_shape:
            return polys
        return [scale_coords(in_shape, p, self.orig_shape) if len(p) else p for p in polys]

    @property
    def xyn(self) -> list:
        h, w = self.orig_shape
        return [p / np.array([w, h], np.float32) if len(p) else p for p in self.xy]

    def at_orig(self) -> np.ndarray:
        """bool ``[n, H0, W0]`` masks at the original image size."""
        m = self.data
        if isinstance(m, np.ndarray):
            m = torch.from_numpy(m)
        if tuple(m.shape[-2:]) != self.orig_shape and len(m):
            m = scale_masks(m.float(), self.orig_shape) > 0.5
        return (m > 0.5).cpu().numpy()

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return Masks(self.data[i], self.orig_shape)


class Results:
    """Predictions for one image. ``boxes [n, 6]`` in original pixels; ``masks [n, H, W]`` or None."""

    def __init__(self, orig_img, path, names, boxes=None, masks=None, speed=None):
        self.orig_img = orig_img
        self.orig_shape = tuple(orig_img.shape[:2])
        self.path = str(path)
        self.names = names if isinstance(names, dict) else dict(enumerate(names or []))
        self.boxes = None if boxes is None else Boxes(boxes, self.orig_shape)
        self.masks = None if masks is None else Masks(masks, self.orig_shape)
        self.speed = dict(speed or {"preprocess": None, "inference": None, "postprocess": None})
        # fields of the reference's Results that a segmentation result never has (tools test them)
        self.probs = self.keypoints = self.obb = None

    def _new(self, fn):
        r = Results(self.orig_img, self.path, self.names, speed=self.speed)
        r.boxes = _map(self.boxes, lambda b: Boxes(fn(b.data), self.orig_shape))
        r.masks = _map(self.masks, lambda m: Masks(fn(m.data), self.orig_shape))
        return r

    def cpu(self):
        return self._new(lambda t: t.cpu() if isinstance(t, torch.Tensor) else t)

    def numpy(self):
        return self._new(lambda t: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t)

    def to(self, *args, **kwargs):
        return self._new(lambda t: torch.as_tensor(t).to(*args, **kwargs))

    def __len__(self):
        return len(self.boxes) if self.boxes is not None else 0

    def __getitem__(self, i):
        if isinstance(i, int):
            i = slice(i, i + 1) if i != -1 else slice(-1, None)
        return self._new(lambda t: t[i])

    # ---- output ------------------------------------------------------------------------
    def verbose(self) -> str:
        """Counts per class, e.g. ``"2 circles, 1 star, "``."""
        if not len(self):
            return "(no detections), "
        cls = np.asarray(torch.as_tensor(self.boxes.cls).cpu(), dtype=int)
        ids, counts = np.unique(cls, return_counts=True)
        return "".join(f"{n} {self.names.get(int(c), c)}{'s' * (n > 1)}, " for c, n in zip(ids.tolist(), counts.tolist()))

    def plot(self, conf: bool = True, labels: bool = True, boxes: bool = True, masks: bool = True,
             line_width=None, img=None) -> np.ndarray:
        """A BGR copy of the original image with masks (50 % blend), boxes and labels drawn."""
        out = np.ascontiguousarray(self.orig_img if img is None else img).copy()
        if not len(self):
            return out
        lw = line_width or default_line_width(out.shape)
        cls = np.asarray(torch.as_tensor(self.boxes.cls).cpu(), dtype=int)
        cols = [color(c) for c in cls]
        if masks and self.masks is not None:
            draw_masks(out, self.masks.at_orig(), cols, alpha=0.5)
        if boxes:
            xyxy = np.asarray(torch.as_tensor(self.boxes.xyxy).cpu())
            cf = np.asarray(torch.as_tensor(self.boxes.conf).cpu())
            for k in np.argsort(-cf)[::-1]:  # draw the most confident last (on top)
                text = ""
                if labels:
                    text = str(self.names.get(int(cls[k]), cls[k])) + (f" {cf[k]:.2f}" if conf else "")
                draw_box_label(out, xyxy[k], text, cols[k], lw)
        return out

    def show(self, **plot_kwargs) -> None:
        """Show :meth:`plot` in a window (or the system's image viewer); a clear error where there is
        no display route (see :mod:`.display`)."""
        from .display import show_image

        show_image(self.plot(**plot_kwargs), str(self.path), wait_ms=500)

    def save(self, path=None, **plot_kwargs) -> str:
        """Write :meth:`plot` to ``path`` (default ``results_<name>``); returns the path."""
        path = str(path or f"results_{Path(self.path).name}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(path, self.plot(**plot_kwargs))
        return path

    def save_txt(self, path, save_conf: bool = False) -> str:
        """Append YOLO label lines: ``cls x1 y1 x2 y2 ...`` (normalised polygon) for segment results,
        ``cls cx cy w h`` for boxes only; confidence last when ``save_conf``."""
        lines = []
        if len(self):
            cls = np.asarray(torch.as_tensor(self.boxes.cls).cpu(), dtype=int)
            cf = np.asarray(torch.as_tensor(self.boxes.conf).cpu())
            geo = self.masks.xyn if self.masks is not None else np.asarray(torch.as_tensor(self.boxes.xywhn).cpu())
            for j in range(len(cls)):
                coords = np.asarray(geo[j]).reshape(-1)
                if not coords.size:
                    continue
                vals = [str(cls[j])] + [f"{v:.6g}" for v in coords] + ([f"{cf[j]:.6g}"] if save_conf else [])
                lines.append(" ".join(vals))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.writelines(line + "\n" for line in lines)
        return str(path)

    def save_crop(self, save_dir, file_name=None) -> list:
        """Save each box's crop of the original image to ``save_dir/<class>/<stem>[_k].jpg``."""
        out = []
        if not len(self):
            return out
        stem = Path(file_name or self.path).stem or "im"
        h, w = self.orig_shape
        xyxy = np.asarray(torch.as_tensor(self.boxes.xyxy).cpu())
        cls = np.asarray(torch.as_tensor(self.boxes.cls).cpu(), dtype=int)
        for k, (b, c) in enumerate(zip(xyxy, cls)):
            x1, y1 = max(int(b[0]), 0), max(int(b[1]), 0)
            x2, y2 = min(int(np.ceil(b[2])), w), min(int(np.ceil(b[3])), h)
            if x2 <= x1 or y2 <= y1:
                continue
            d = Path(save_dir) / str(self.names.get(int(c), c))
            d.mkdir(parents=True, exist_ok=True)
            p = d / (f"{stem}.jpg" if k == 0 else f"{stem}_{k}.jpg")
            cv2.imwrite(str(p), np.ascontiguousarray(self.orig_img[y1:y2, x1:x2]))
            out.append(str(p))
        return out

    def summary(self, normalize: bool = False, decimals: int = 5) -> list:
        """One dict per detection: name, class, confidence, box, and segments (polygon x/y lists)."""
        if not len(self):
            return []
        h, w = self.orig_shape if normalize else (1, 1)
        xyxy = np.asarray(torch.as_tensor(self.boxes.xyxy).cpu(), dtype=np.float64)
        cls = np.asarray(torch.as_tensor(self.boxes.cls).cpu(), dtype=int)
        cf = np.asarray(torch.as_tensor(self.boxes.conf).cpu(), dtype=np.float64)
        polys = self.masks.xy if self.masks is not None else None
        out = []
        for j in range(len(cls)):
            x1, y1, x2, y2 = xyxy[j]
            d = {"name": str(self.names.get(int(cls[j]), cls[j])), "class": int(cls[j]),
                 "confidence": round(float(cf[j]), decimals),
                 "box": {k: round(float(v), decimals) for k, v in
                         zip(("x1", "y1", "x2", "y2"), (x1 / w, y1 / h, x2 / w, y2 / h))}}
            if self.boxes.is_track:
                d["track_id"] = int(torch.as_tensor(self.boxes.id)[j])
            if polys is not None:
                p = polys[j]
                d["segments"] = {"x": [round(float(v), decimals) for v in p[:, 0] / w],
                                 "y": [round(float(v), decimals) for v in p[:, 1] / h]}
            out.append(d)
        return out

    def to_json(self, normalize: bool = False, decimals: int = 5) -> str:
        return json.dumps(self.summary(normalize, decimals), indent=2)

    def __repr__(self):
        return f"Results(path={self.path!r}, n={len(self)}, orig_shape={self.orig_shape}, names={len(self.names)})"
