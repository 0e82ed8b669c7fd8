"""Sliced inference: small objects in large images (``slice=640``, docs/predict.md "Sliced inference").

Why: a 4,000 px image letterboxed to 640 shrinks a 30 px object to 5 px, below what the model can
see. Cutting the image into overlapping tiles run at their native scale keeps objects at the size
the model was trained on (the idea published as "Slicing Aided Hyper Inference", Akyon et al., 2022;
this is an independent implementation for instance masks).

Steps for one image:

1. :func:`tile_grid` lays tiles of ``slice`` size with ``slice_overlap`` (fraction of the tile)
   overlap; the last row/column is aligned to the image edge, so every tile has the same size and a
   batch of tiles is one tensor.
2. Tiles go through the predictor's own ``preprocess → backend → postprocess`` in batches of
   ``slice_batch`` (any backend or exported artifact). ``slice_full=True`` adds one pass over the
   whole image downscaled to ``imgsz`` (large objects that no tile holds whole).
3. Each detection becomes an :class:`Instance`: class, score, box in full-image pixels and its mask
   *cropped to its box* (never a full-frame array per instance), plus the tile it came from.
4. :func:`merge` joins duplicates across tiles. Two detections of the same class from different
   tiles are the same object when their masks agree **inside the region both tiles saw**
   (intersection over the smaller of the two masks there, ``slice_match``): both tiles looked at
   the same pixels there, so the pieces of one object cut by a tile border agree in that zone even
   when neither piece holds the whole object -- which whole-mask IoU or box NMS cannot tell.
   ``slice_merge=nmm`` (default) merges the parts into one instance: the most confident part's
   mask, extended by the other parts only where its tiles did not see the image (so an object
   whole in some tile keeps that tile's mask, and one larger than any tile is joined from its
   pieces); box recomputed from the merged mask; score = the highest of the parts; ``slice_merge=nms`` keeps the highest-scoring part and drops the others.
   Detections from one tile are never merged with each other (the model's NMS already decided).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from .masks_ops import masks2polygons
from .results import Masks, Results
from .sources import Frame

Rect = tuple  # (x1, y1, x2, y2) ints, x2/y2 exclusive


def tile_size(cfg: dict, imgsz) -> tuple[int, int]:
    """``slice=640`` / ``slice=[h, w]`` / ``slice=True`` (the model input size) → (h, w)."""
    s = cfg.get("slice")
    if s is True:
        s = imgsz
    if isinstance(s, (list, tuple)):
        return int(s[0]), int(s[-1])
    return int(s), int(s)


def tile_grid(h: int, w: int, th: int, tw: int, overlap: float) -> list[Rect]:
    """Tiles covering an ``h × w`` image: ``th × tw`` each, neighbours overlapping by ``overlap`` of
    a tile, the last ones aligned to the right/bottom edges (so all tiles are the same size; an
    image smaller than a tile is one tile of its own size)."""
    if not 0 <= overlap < 1:
        from segctl.errors import UsageError

        raise UsageError(f"slice_overlap={overlap} must be in [0, 1)", hint="e.g. slice_overlap=0.2")

    def starts(n, t):
        if n <= t:
            return [0]
        step = max(int(round(t * (1 - overlap))), 1)
        out = list(range(0, n - t, step))
        return out + [n - t]

    th, tw = min(th, h), min(tw, w)
    return [(x, y, x + tw, y + th) for y in starts(h, th) for x in starts(w, tw)]


@dataclass
class Instance:
    """One detection in full-image pixels; ``mask`` is bool ``[y2-y1, x2-x1]`` at ``rect``."""

    cls: int
    score: float
    rect: Rect
    mask: np.ndarray
    tile: int
    tiles: list = field(default_factory=list)  # (tile rect, mask, rect) of each merged part

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Tight box of the mask pixels (falls back to the crop rect for an empty mask)."""
        ys, xs = np.nonzero(self.mask.any(1))[0], np.nonzero(self.mask.any(0))[0]
        if not len(xs):
            return tuple(float(v) for v in self.rect)
        x1, y1 = self.rect[:2]
        return float(x1 + xs[0]), float(y1 + ys[0]), float(x1 + xs[-1] + 1), float(y1 + ys[-1] + 1)


def _crop_mask(mask_in: np.ndarray, rect_local: Rect, gain: float, padw: float, padh: float) -> np.ndarray:
    """The part ``rect_local`` (tile pixels) of a mask given at the letterboxed input resolution, at
    tile resolution: an affine warp that samples pixel centres (exact copy when ``gain == 1``)."""
    x1, y1, x2, y2 = rect_local
    m = np.array([[gain, 0, gain * (x1 + 0.5) + padw - 0.5], [0, gain, gain * (y1 + 0.5) + padh - 0.5]],
                 np.float32)
    out = cv2.warpAffine(mask_in.astype(np.uint8) * 255, m, (x2 - x1, y2 - y1),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0)
    return out > 127


def _instances(r: Results, tile_rect: Rect, tile_id: int, in_shape, ratio_pad) -> list[Instance]:
    """A tile's Results → Instances in full-image pixels (masks cropped to their boxes)."""
    if not len(r):
        return []
    ox, oy = tile_rect[:2]
    th, tw = tile_rect[3] - tile_rect[1], tile_rect[2] - tile_rect[0]
    data = r.boxes.data.detach().cpu().numpy() if isinstance(r.boxes.data, torch.Tensor) else r.boxes.data
    masks = None
    if r.masks is not None:
        md = r.masks.data
        masks = (md.detach().cpu().numpy() if isinstance(md, torch.Tensor) else np.asarray(md)) > 0.5
    (gain, _), (padw, padh) = ratio_pad
    out = []
    for k, (x1, y1, x2, y2, conf, c) in enumerate(data[:, :6]):
        lx1, ly1 = max(int(math.floor(x1)), 0), max(int(math.floor(y1)), 0)
        lx2, ly2 = min(int(math.ceil(x2)), tw), min(int(math.ceil(y2)), th)
        if lx2 <= lx1 or ly2 <= ly1:
            continue
        if masks is None:
            m = np.ones((ly2 - ly1, lx2 - lx1), bool)
        elif masks.shape[1:] == (th, tw):
            m = masks[k, ly1:ly2, lx1:lx2].copy()
        else:
            m = _crop_mask(masks[k], (lx1, ly1, lx2, ly2), float(gain), float(padw), float(padh))
        rect = (lx1 + ox, ly1 + oy, lx2 + ox, ly2 + oy)
        out.append(Instance(int(c), float(conf), rect, m, tile_id, [(tile_rect, m, rect)]))
    return out


def _inter(a: Rect, b: Rect) -> Rect | None:
    r = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return r if r[2] > r[0] and r[3] > r[1] else None


def _sub(mask: np.ndarray, rect: Rect, region: Rect) -> np.ndarray:
    """``mask`` (placed at ``rect``) cut to ``region`` (which must lie inside ``rect``)."""
    return mask[region[1] - rect[1]:region[3] - rect[1], region[0] - rect[0]:region[2] - rect[0]]


def zone_overlap(a, b) -> float:
    """Intersection over the smaller mask, both masks restricted to the region the two parts' tiles
    share. ``a``/``b``: ``(tile rect, mask, mask rect)``. 0 when they share no pixel there."""
    (ta, ma, ra), (tb, mb, rb) = a, b
    zone = _inter(ta, tb)
    if zone is None:
        return 0.0
    za, zb = _inter(ra, zone), _inter(rb, zone)
    if za is None or zb is None:
        return 0.0
    area_a, area_b = int(_sub(ma, ra, za).sum()), int(_sub(mb, rb, zb).sum())
    both = _inter(za, zb)
    if both is None or not area_a or not area_b:
        return 0.0
    inter = int((_sub(ma, ra, both) & _sub(mb, rb, both)).sum())
    return inter / min(area_a, area_b)


def _union(a: Instance, b: Instance) -> Instance:
    """``a`` (the more confident) extended by ``b`` where ``a``'s tiles did not see the image: inside
    a tile that already contributed, its mask is kept as it is, so the merged mask is the one a
    tile holding the object whole predicts (a plain OR of two tiles' slightly different masks
    would grow the object at every seam). Score: the higher one. Parts are kept for matching."""
    r = (min(a.rect[0], b.rect[0]), min(a.rect[1], b.rect[1]), max(a.rect[2], b.rect[2]), max(a.rect[3], b.rect[3]))
    m = np.zeros((r[3] - r[1], r[2] - r[0]), bool)
    m[a.rect[1] - r[1]:a.rect[3] - r[1], a.rect[0] - r[0]:a.rect[2] - r[0]] = a.mask
    add = np.zeros_like(m)
    add[b.rect[1] - r[1]:b.rect[3] - r[1], b.rect[0] - r[0]:b.rect[2] - r[0]] = b.mask
    for t, _, _ in a.tiles:  # pixels a's tiles saw are a's to decide
        add[max(t[1] - r[1], 0):max(t[3] - r[1], 0), max(t[0] - r[0], 0):max(t[2] - r[0], 0)] = False
    m |= add
    return Instance(a.cls, max(a.score, b.score), r, m, a.tile, a.tiles + b.tiles)


def merge(insts: list[Instance], mode: str = "nmm", thr: float = 0.5, agnostic: bool = False) -> list[Instance]:
    """Greedy merging in score order: each kept instance absorbs (``nmm``) or suppresses (``nms``)
    every instance of another tile whose mask matches one of its parts (:func:`zone_overlap` ≥
    ``thr``) -- transitively, so an object cut into four tile pieces becomes one."""
    if mode not in ("nmm", "nms"):
        from segctl.errors import UsageError

        raise UsageError(f"slice_merge={mode!r} is not a merge mode", hint="use slice_merge=nmm or slice_merge=nms")
    order = sorted(range(len(insts)), key=lambda i: -insts[i].score)
    rects = np.array([i.rect for i in insts], np.int64).reshape(-1, 4)
    cls = np.array([i.cls for i in insts], np.int64)
    tiles = np.array([i.tile for i in insts], np.int64)
    used = np.zeros(len(insts), bool)
    out = []
    for i in order:
        if used[i]:
            continue
        used[i] = True
        cur = insts[i]
        seen_tiles = {cur.tile}
        grew = True
        while grew:
            grew = False
            r = cur.rect
            cand = ((~used) & (rects[:, 0] < r[2]) & (rects[:, 2] > r[0]) & (rects[:, 1] < r[3]) & (rects[:, 3] > r[1])
                    & ~np.isin(tiles, list(seen_tiles)))
            if not agnostic:
                cand &= cls == cur.cls
            for j in np.nonzero(cand)[0]:
                if used[j]:
                    continue
                pj = insts[j].tiles[0]
                if any(zone_overlap(p, pj) >= thr for p in cur.tiles):
                    used[j] = True
                    if mode == "nmm":
                        cur = _union(cur, insts[j])
                        seen_tiles.add(insts[j].tile)
                        grew = True
        out.append(cur)
    return out


class CropMasks(Masks):
    """Masks kept as one box-sized crop per instance; the full ``[n, H, W]`` float32 ``data`` of the
    Masks contract is only built when asked for (a 6,000 px image with 500 objects would need 72 GB
    as full frames)."""

    def __init__(self, insts: list[Instance], orig_shape):
        self.insts = list(insts)
        self.orig_shape = tuple(orig_shape[:2])

    @property
    def data(self) -> torch.Tensor:
        return torch.from_numpy(self.at_orig().astype(np.float32))

    shape = property(lambda self: (len(self.insts), *self.orig_shape))

    def _with(self, data):
        return Masks(data, self.orig_shape)

    def at_orig(self) -> np.ndarray:
        out = np.zeros((len(self.insts), *self.orig_shape), bool)
        for k, p in enumerate(self.insts):
            out[k, p.rect[1]:p.rect[3], p.rect[0]:p.rect[2]] = p.mask
        return out

    @property
    def xy(self) -> list:
        polys = []
        for p in self.insts:
            (poly,) = masks2polygons(p.mask[None], strategy="all")
            polys.append(poly + np.array(p.rect[:2], np.float32) if len(poly) else poly)
        return polys

    def __len__(self):
        return len(self.insts)

    def __getitem__(self, i):
        sel = self.insts[i] if isinstance(i, slice) else (
            [self.insts[i]] if isinstance(i, int) else [self.insts[int(k)] for k in np.arange(len(self.insts))[i]])
        return CropMasks(sel, self.orig_shape)


def predict_instances(predictor, image: np.ndarray, dt: list | None = None) -> list[Instance]:
    """Tiles (and the optional full pass) of one BGR image through ``predictor``'s backend →
    merged Instances, best first, at most ``max_det``. ``dt`` accumulates (preprocess, inference,
    postprocess) seconds."""
    cfg = predictor.cfg
    dt = dt if dt is not None else [0.0, 0.0, 0.0]
    insts = tile_instances(predictor, image, dt)
    t0 = time.perf_counter()
    merged = merge(insts, str(cfg.get("slice_merge") or "nmm"), float(cfg.get("slice_match", 0.5)),
                   agnostic=bool(cfg.get("agnostic_nms")))
    merged = [m for m in merged if m.mask.any()]
    merged.sort(key=lambda m: -m.score)
    dt[2] += time.perf_counter() - t0
    return merged[:int(cfg.get("max_det") or 300)]


def tile_instances(predictor, image: np.ndarray, dt: list | None = None) -> list[Instance]:
    """Every tile's detections as Instances in full-image pixels, not merged yet."""
    cfg = predictor.cfg
    dt = dt if dt is not None else [0.0, 0.0, 0.0]
    h, w = image.shape[:2]
    th, tw = tile_size(cfg, predictor.imgsz)
    rects = tile_grid(h, w, th, tw, float(cfg.get("slice_overlap", 0.2)))
    bs = max(int(cfg.get("slice_batch") or cfg.get("batch") or 1), 1)
    if not predictor.dynamic:
        bs = int(predictor.backend.metadata.get("batch", 1) or 1)
    jobs = [(r, image[r[1]:r[3], r[0]:r[2]]) for r in rects]
    groups = [jobs[i:i + bs] for i in range(0, len(jobs), bs)]
    if cfg.get("slice_full") and len(rects) > 1:
        groups.append([((0, 0, w, h), image)])
    insts, tile_id = [], 0
    saved = cfg.get("retina_masks")
    cfg["retina_masks"] = False  # masks at input size; cropped per instance below
    try:
        for grp in groups:
            t0 = time.perf_counter()
            x, ratio_pads = predictor.preprocess([im for _, im in grp])
            t1 = time.perf_counter()
            out = predictor.backend(x)
            if predictor.device.type == "cuda":
                torch.cuda.synchronize(predictor.device)
            t2 = time.perf_counter()
            frames = [Frame(path="tile", image=im) for _, im in grp]
            for (rect, _), r, rp in zip(grp, predictor.postprocess(out, x, frames, ratio_pads), ratio_pads):
                insts += _instances(r, rect, tile_id, tuple(x.shape[2:]), rp)
                tile_id += 1
            dt[0], dt[1], dt[2] = dt[0] + t1 - t0, dt[1] + t2 - t1, dt[2] + time.perf_counter() - t2
            predictor._last_shape = tuple(x.shape[2:])
    finally:
        cfg["retina_masks"] = saved
    return insts


def to_results(insts: list[Instance], frame: Frame, names: dict, has_masks: bool = True) -> Results:
    """Merged Instances → a :class:`Results` whose masks are :class:`CropMasks`."""
    r = Results(frame.image, frame.path, names)
    h, w = frame.image.shape[:2]
    data = torch.tensor([[*p.box, p.score, p.cls] for p in insts], dtype=torch.float32).reshape(-1, 6)
    from .results import Boxes

    r.boxes = Boxes(data, (h, w))
    r.masks = CropMasks(insts, (h, w)) if has_masks else None
    return r


def predict_frames(predictor, frames: list[Frame]) -> list[Results]:
    """The sliced counterpart of ``SegmentPredictor._predict_batch``: one Results per frame."""
    out = []
    for f in frames:
        dt = [0.0, 0.0, 0.0]
        insts = predict_instances(predictor, f.image, dt)
        r = to_results(insts, f, predictor.names)
        r.speed = {"preprocess": dt[0] * 1e3, "inference": dt[1] * 1e3, "postprocess": dt[2] * 1e3}
        for k in range(3):
            predictor.dt[k] += dt[k]
        out.append(r)
    return out
