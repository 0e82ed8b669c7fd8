"""Pictures of the data: ``labels.jpg`` (label statistics) and ``train_batch*.jpg`` (what the model sees).

Why: most training failures are data failures (wrong class ids, boxes in the wrong place, masks
that do not match the pixels). Looking at the augmented batch with its targets drawn on top is the
quickest check that labels, augmentation and mask targets agree. matplotlib runs on the Agg backend
(no display needed); batch mosaics are drawn with OpenCV.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np


def _colour(i: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per class id (golden-ratio hue walk)."""
    hue = int((i * 0.618033988749895 % 1.0) * 179)
    hsv = np.uint8([[[hue, 200, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def plot_labels(index, names: dict[int, str], path) -> Path:
    """Class histogram, box-centre and box-size scatter of a :class:`DatasetIndex` → ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    nc = max(len(names), 1)
    cls = np.concatenate([np.asarray(r["cls"]) for r in index.records] or [np.zeros(0, int)]).astype(int)
    boxes = np.concatenate([np.asarray(r["bboxes"]).reshape(-1, 4) for r in index.records] or [np.zeros((0, 4))])
    fig, ax = plt.subplots(1, 3, figsize=(15, 5), tight_layout=True)
    counts = np.bincount(cls, minlength=nc)[:nc]
    cols = [np.array(_colour(i)[::-1]) / 255 for i in range(nc)]
    ax[0].bar(range(nc), counts, color=cols)
    ax[0].set_xticks(range(nc))
    ax[0].set_xticklabels([names.get(i, str(i)) for i in range(nc)], rotation=90 if nc > 10 else 0, fontsize=8)
    ax[0].set_ylabel("instances")
    ax[0].set_title(f"{len(cls)} instances in {len(index.records)} images")
    c = [cols[k] for k in cls] if len(cls) else None
    ax[1].scatter(boxes[:, 0], boxes[:, 1], s=4, alpha=0.5, c=c)
    ax[1].set(xlim=(0, 1), ylim=(1, 0), xlabel="x centre", ylabel="y centre", title="box centres")
    ax[2].scatter(boxes[:, 2], boxes[:, 3], s=4, alpha=0.5, c=c)
    ax[2].set(xlim=(0, 1), ylim=(0, 1), xlabel="width", ylabel="height", title="box sizes")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_batch(batch: dict, names: dict[int, str], path, max_images: int = 16, max_side: int = 1920,
               overlap: bool | None = None) -> Path:
    """Grid of the batch images with their mask targets tinted and boxes + class names drawn → ``path``.
    ``overlap`` says whether ``masks`` are index maps (inferred from the shapes when ``None``)."""
    imgs = batch["img"][:max_images].cpu().numpy()
    if imgs.dtype != np.uint8:
        imgs = (imgs * 255).clip(0, 255).astype(np.uint8) if imgs.max() <= 1.0 else imgs.astype(np.uint8)
    bs, _, h, w = imgs.shape
    cls = batch["cls"].view(-1).cpu().numpy().astype(int)
    boxes = batch["bboxes"].cpu().numpy()
    bidx = batch["batch_idx"].cpu().numpy().astype(int)
    masks = batch["masks"].cpu().numpy()
    if overlap is None:  # index maps have one entry per image; binary masks one per instance
        overlap = len(masks) == len(batch["img"]) and (len(masks) != len(cls) or masks.max() > 1)
    ns = math.ceil(math.sqrt(bs))
    canvas = np.full((ns * h, ns * w, 3), 255, np.uint8)
    for b in range(bs):
        im = np.ascontiguousarray(imgs[b].transpose(1, 2, 0)[..., ::-1])
        sel = np.flatnonzero(bidx == b)
        for j, k in enumerate(sel):
            if overlap:
                m = masks[b] == j + 1
            else:
                m = masks[k].astype(bool)
            m = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
            col = np.array(_colour(cls[k]), np.uint16)
            im[m] = ((im[m].astype(np.uint16) + col) // 2).astype(np.uint8)
        for k in sel:
            cx, cy, bw, bh = boxes[k] * (w, h, w, h)
            p1, p2 = (int(cx - bw / 2), int(cy - bh / 2)), (int(cx + bw / 2), int(cy + bh / 2))
            col = _colour(cls[k])
            cv2.rectangle(im, p1, p2, col, 1, cv2.LINE_AA)
            cv2.putText(im, names.get(int(cls[k]), str(cls[k])), (p1[0] + 1, max(p1[1] - 2, 8)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, col, 1, cv2.LINE_AA)
        name = Path(batch["im_file"][b]).name if "im_file" in batch else ""
        cv2.putText(im, name, (3, h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.rectangle(im, (0, 0), (w - 1, h - 1), (255, 255, 255), 2)
        y, x = divmod(b, ns)
        canvas[y * h:(y + 1) * h, x * w:(x + 1) * w] = im
    f = min(1.0, max_side / max(canvas.shape[:2]))
    if f < 1:
        canvas = cv2.resize(canvas, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), canvas)
    return path
