"""``SegmentDataset``: a torch Dataset over a :class:`segctl.data.DatasetIndex` for any format.

Why format-agnostic: YOLO txt and COCO JSON plugins both produce the same records (normalised
polygons, optional RLE), so augmentation, mask targets and batching live here once. A file that
cannot be read mid-epoch (deleted, corrupted after the scan) is skipped with a warning, counted in
``read_failures`` (shared with DataLoader workers) and replaced by another sample: one bad file never
kills a long run. Mosaic on/off is a shared flag too, so ``close_mosaic()`` reaches persistent workers.

Training augmentation is a pure function of ``(seed, epoch, position)``: every sample reseeds the
random stream it draws from (``set_epoch`` publishes the epoch to the workers through shared memory).
So the augmented data do not depend on which worker builds a sample, how many workers there are or
how long they have lived -- which is what makes a resumed run (fresh workers) see exactly the data
the uninterrupted run saw.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from segctl.errors import DataError

from .augment import DEFAULT_HYP, augment_hsv, copy_paste, fliplr, flipud, letterbox, mixup, mosaic, \
    random_perspective
from .instances import Instances
from .masks import decode_rle, mask_targets

LOG = logging.getLogger("segctl.data")
MAX_RETRIES = 20


def read_image(path: str) -> np.ndarray:
    """BGR uint8 image with EXIF orientation applied (OpenCV's default, same as PIL exif_transpose)."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return img


def rect_shapes(shapes: np.ndarray, batch_size: int, imgsz: int, stride: int, pad: float):
    """Order records by aspect ratio and give each batch the smallest stride-multiple (h, w) that fits.

    :param shapes: (n, 2) array of (h, w). :return: ``(order, batch_shapes)``; item ``i`` of the
        dataset is record ``order[i]`` and is letterboxed to ``batch_shapes[i // batch_size]``."""
    ar = shapes[:, 0] / shapes[:, 1]
    order = np.argsort(ar, kind="stable")
    ar = ar[order]
    nb = int(np.ceil(len(ar) / batch_size))
    out = np.ones((nb, 2))
    for b in range(nb):
        a = ar[b * batch_size:(b + 1) * batch_size]
        lo, hi = a.min(), a.max()
        if hi < 1:
            out[b] = (hi, 1)
        elif lo > 1:
            out[b] = (1, 1 / lo)
    return order, (np.ceil(out * imgsz / stride + pad).astype(int) * stride)


class SegmentDataset(torch.utils.data.Dataset):
    """Training/validation samples for instance segmentation (see docs/contracts.md for the batch)."""

    def __init__(self, index, imgsz: int = 640, *, augment: bool = False, hyp: dict | None = None,
                 mask_ratio: int = 4, overlap: bool = True, cache=None, rect: bool = False,
                 batch_size: int = 16, stride: int = 32, pad: float = 0.5, seed: int = 0):
        self.index = index
        self.records = index.records
        self.names = dict(index.names)
        if not self.records:
            raise DataError(f"dataset split '{index.split or '?'}' has no usable images",
                            hint="see the verification report for why images were skipped")
        self.imgsz, self.augment, self.rect = int(imgsz), bool(augment), bool(rect)
        self.hyp = {**DEFAULT_HYP, **{k: v for k, v in (hyp or {}).items() if k in DEFAULT_HYP}}
        self.mask_ratio, self.overlap, self.stride = int(mask_ratio), bool(overlap), int(stride)
        self._mosaic_on = mp.Value("b", 1 if (augment and not rect and self.hyp["mosaic"] > 0) else 0)
        self._failures = mp.Value("i", 0)
        self._epoch = mp.Value("q", 0)
        self.seed = int(seed)
        self._bad: set[int] = set()
        n = len(self.records)
        if rect:
            shapes = np.array([r["shape"] for r in self.records], dtype=np.float64)
            self.order, self.batch_shapes = rect_shapes(shapes, batch_size, self.imgsz, self.stride, pad)
        else:
            self.order, self.batch_shapes = np.arange(n), None
        self.batch_size = batch_size
        self.cache = "ram" if cache is True else (cache or None)
        if self.cache not in (None, "ram", "disk"):
            raise DataError(f"cache={cache!r} is not one of ram, disk, false", hint="use cache=ram or cache=disk")
        self._ims: list = [None] * n
        if self.cache == "ram":
            self._fill_ram()

    # ------------------------------------------------------------------ state shared with workers
    @property
    def read_failures(self) -> int:
        """Images that failed to load during iteration (all workers together)."""
        return int(self._failures.value)

    @property
    def mosaic_enabled(self) -> bool:
        return bool(self._mosaic_on.value)

    def close_mosaic(self) -> None:
        """Turn mosaic (and mixup, copy-paste that ride on it) off for the last epochs; reaches
        persistent DataLoader workers through shared memory."""
        self._mosaic_on.value = 0

    def set_epoch(self, epoch: int) -> None:
        """Publish the epoch (to persistent workers too): it keys every sample's augmentation stream."""
        self._epoch.value = int(epoch)

    def _reseed(self, pos: int) -> None:
        """Seed the global NumPy stream the augmentations draw from with ``(seed, epoch, pos)``."""
        state = np.random.SeedSequence([self.seed & 0xFFFFFFFF, int(self._epoch.value), int(pos)])
        np.random.seed(state.generate_state(1)[0])

    def __len__(self) -> int:
        return len(self.records)

    # ------------------------------------------------------------------ loading
    def _npy_path(self, i: int) -> Path:
        p = Path(self.records[i]["im_file"])
        return p.parent / ".segctl-npy" / f"{p.stem}.{self.imgsz}.npy"

    def load_image(self, i: int):
        """Image ``i`` resized so its long side is ``imgsz`` → ``(img, (h0, w0), (h, w))``."""
        cached = self._ims[i]
        if cached is not None:
            return cached
        rec = self.records[i]
        if self.cache == "disk":
            npy = self._npy_path(i)
            if npy.is_file():
                try:
                    img = np.load(npy, allow_pickle=False)
                    h0, w0 = rec["shape"]
                    if img.ndim == 3 and img.shape[2] == 3 and max(img.shape[:2]) == self.imgsz:
                        return img, (h0, w0), img.shape[:2]
                except (OSError, ValueError):
                    pass
        img = read_image(rec["im_file"])
        h0, w0 = img.shape[:2]
        r = self.imgsz / max(h0, w0)
        if r != 1:
            interp = cv2.INTER_LINEAR if (self.augment or r > 1) else cv2.INTER_AREA
            img = cv2.resize(img, (max(1, round(w0 * r)), max(1, round(h0 * r))), interpolation=interp)
        if self.cache == "disk":
            self._save_npy(i, img)
        return img, (h0, w0), img.shape[:2]

    def _save_npy(self, i: int, img: np.ndarray) -> None:
        npy = self._npy_path(i)
        try:
            npy.parent.mkdir(exist_ok=True)
            tmp = npy.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, img, allow_pickle=False)
            os.replace(tmp, npy)
        except OSError as e:
            LOG.warning("cannot write image cache %s (%s); cache=disk disabled", npy, e)
            self.cache = None

    def _fill_ram(self) -> None:
        def one(i):
            try:
                return self.load_image(i)
            except OSError as e:
                LOG.warning("cache=ram: %s; it will be skipped when sampled", e)
                return None
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as ex:
            self._ims = list(ex.map(one, range(len(self.records))))

    def instances(self, i: int, h0: int, w0: int, h: int, w: int) -> Instances:
        """Record ``i``'s objects in pixels of the (h, w) resized image; crowd regions excluded."""
        rec = self.records[i]
        n = len(rec["cls"])
        rles = rec.get("rle") or [None] * n
        crowd = rec.get("iscrowd")
        segs, masks, keep = [], [], []
        for j in range(n):
            if crowd is not None and bool(crowd[j]):
                continue
            keep.append(j)
            if rles[j] is not None:
                m = decode_rle(rles[j], h0, w0)
                masks.append(cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) if (h, w) != (h0, w0) else m)
                segs.append(np.zeros((0, 2), np.float32))
                continue
            s = np.asarray(rec["segments"][j], np.float32).reshape(-1, 2) if j < len(rec["segments"]) else None
            if s is None or len(s) < 3:  # box only: its rectangle
                cx, cy, bw, bh = rec["bboxes"][j]
                s = np.array([[cx - bw / 2, cy - bh / 2], [cx + bw / 2, cy - bh / 2],
                              [cx + bw / 2, cy + bh / 2], [cx - bw / 2, cy + bh / 2]], np.float32)
            segs.append(s * np.array([w, h], np.float32))
            masks.append(None)
        return Instances(np.asarray(rec["cls"])[keep], segs, masks)

    def load_pair(self, i: int):
        img, (h0, w0), (h, w) = self.load_image(i)
        return img, self.instances(i, h0, w0, h, w)

    # ------------------------------------------------------------------ samples
    def _random_index(self) -> int:
        for _ in range(MAX_RETRIES):
            j = int(np.random.randint(0, len(self.records)))
            if j not in self._bad:
                return j
        return j

    def _train_sample(self, i: int):
        hyp, s = self.hyp, self.imgsz

        def one(k):
            if self.mosaic_enabled and np.random.random() < hyp["mosaic"]:
                idx = [k] + [self._random_index() for _ in range(3)]
                img, inst = mosaic(self.load_pair, idx, s)
            else:
                img, inst = self.load_pair(k)
                img, _, _, M = letterbox(img, (s, s))
                inst = inst.transform(M, (s, s))
            img, inst = copy_paste(img, inst, hyp["copy_paste"] if self.mosaic_enabled else 0.0)
            return random_perspective(img, inst, hyp, out_size=(s, s))

        img, inst = one(i)
        if self.mosaic_enabled and hyp["mixup"] and np.random.random() < hyp["mixup"]:
            img, inst = mixup((img, inst), one(self._random_index()))
        augment_hsv(img, hyp["hsv_h"], hyp["hsv_s"], hyp["hsv_v"])
        if np.random.random() < hyp["flipud"]:
            img, inst = flipud(img, inst)
        if np.random.random() < hyp["fliplr"]:
            img, inst = fliplr(img, inst)
        h0, w0 = self.records[i]["shape"]
        r = s / max(h0, w0)
        return img, inst, (h0, w0), (round(h0 * r), round(w0 * r)), ((1.0, 1.0), (0.0, 0.0))

    def _val_sample(self, pos: int, i: int):
        img, (h0, w0), (h, w) = self.load_image(i)
        inst = self.instances(i, h0, w0, h, w)
        shape = tuple(self.batch_shapes[pos // self.batch_size]) if self.rect else (self.imgsz, self.imgsz)
        img, r, (left, top), M = letterbox(img, shape, scaleup=False)
        inst = inst.transform(M, (img.shape[1], img.shape[0]))
        return img, inst, (h0, w0), (h, w), ((h / h0 * r, w / w0 * r), (float(left), float(top)))

    def build(self, pos: int) -> dict:
        """The sample at dataset position ``pos`` (raises on an unreadable image)."""
        i = int(self.order[pos])
        if self.augment:
            img, inst, ori, resized, ratio_pad = self._train_sample(i)
        else:
            img, inst, ori, resized, ratio_pad = self._val_sample(pos, i)
        h, w = img.shape[:2]
        if len(inst):
            b = inst.boxes()
            inst = inst.filter((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1]))
        b = inst.boxes()
        xywh = np.stack([(b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h,
                         (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h], axis=1) if len(inst) else \
            np.zeros((0, 4), np.float32)
        masks = mask_targets(inst, h, w, self.mask_ratio, self.overlap)
        chw = np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1))
        return {"img": torch.from_numpy(chw), "cls": torch.from_numpy(inst.cls.astype(np.float32)).view(-1, 1),
                "bboxes": torch.from_numpy(xywh.astype(np.float32)), "masks": torch.from_numpy(masks),
                "im_file": self.records[i]["im_file"], "ori_shape": tuple(int(v) for v in ori),
                "resized_shape": tuple(int(v) for v in resized), "ratio_pad": ratio_pad, "index": i}

    def __getitem__(self, pos: int) -> dict:
        last = None
        for _ in range(MAX_RETRIES):
            i = int(self.order[pos])
            if i not in self._bad:
                try:
                    if self.augment:
                        self._reseed(pos)
                    return self.build(pos)
                except OSError as e:  # only I/O and decoding; bugs must surface
                    last = e
                    self._bad.add(i)
                    with self._failures.get_lock():
                        self._failures.value += 1
                    LOG.warning("skipping unreadable sample %s (%s); another sample is used instead",
                                self.records[i]["im_file"], e)
            # next position; in rect mode stay inside the same batch so its shape still applies
            lo = (pos // self.batch_size) * self.batch_size if self.rect else 0
            hi = min(lo + self.batch_size, len(self)) if self.rect else len(self)
            pos = lo + (pos - lo + 1) % (hi - lo)
        raise DataError(f"{MAX_RETRIES} consecutive samples could not be read (last: {last})",
                        hint="check that the dataset files still exist and are readable")


# ---------------------------------------------------------------------- batching


def collate(batch: list[dict]) -> dict:
    """Samples → the training batch dict of docs/contracts.md (``batch_idx`` ties instances to images)."""
    out = {"img": torch.stack([b["img"] for b in batch]),
           "cls": torch.cat([b["cls"] for b in batch]),
           "bboxes": torch.cat([b["bboxes"] for b in batch]),
           "batch_idx": torch.cat([torch.full((len(b["cls"]),), float(i)) for i, b in enumerate(batch)])}
    masks = [b["masks"] for b in batch]
    if masks and masks[0].dim() == 2:  # overlap: one index map per image
        dtype = torch.uint8 if all(m.dtype == torch.uint8 for m in masks) else torch.float32
        out["masks"] = torch.stack([m.to(dtype) for m in masks])
    else:
        out["masks"] = torch.cat(masks)
    for k in ("im_file", "ori_shape", "resized_shape", "ratio_pad", "index"):
        out[k] = [b[k] for b in batch]
    return out


def _seed_worker(worker_id: int) -> None:
    """Give each DataLoader worker its own NumPy/Python RNG stream derived from torch's seed."""
    import random

    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)
    cv2.setNumThreads(0)  # one process per core already; OpenCV's own threads would oversubscribe


def build_dataloader(dataset: SegmentDataset, batch: int, workers: int, shuffle: bool, rank: int = -1,
                     seed: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader with seeded workers, pinned memory on CUDA and persistent workers.

    Shuffled or distributed (``rank >= 0``) loaders use a :class:`DistributedSampler` (call
    ``loader.sampler.set_epoch(epoch)`` each epoch). Rectangular datasets are never shuffled: their batch shapes depend on the order."""
    if getattr(dataset, "rect", False) and shuffle:
        LOG.warning("rect=True is incompatible with shuffle; shuffle disabled")
        shuffle = False
    nw = max(0, min(int(workers), os.cpu_count() or 1, batch if batch > 0 else 1))
    sampler = None
    if rank >= 0:
        sampler = torch.utils.data.distributed.DistributedSampler(dataset, shuffle=shuffle, seed=seed)
    elif shuffle:
        # the order is a function of (seed, epoch) alone, via set_epoch: DataLoader's own shuffling
        # draws from the generator it also takes the workers' base seed from, so a resumed run
        # (new iterator) would see another order than the uninterrupted one (persistent iterator)
        sampler = torch.utils.data.distributed.DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True,
                                                                  seed=seed)
    gen = torch.Generator()
    gen.manual_seed(int(seed) + max(rank, 0))
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch, shuffle=shuffle and sampler is None, sampler=sampler, num_workers=nw,
        pin_memory=torch.cuda.is_available(), persistent_workers=nw > 0, collate_fn=collate,
        worker_init_fn=_seed_worker, generator=gen, drop_last=False)
