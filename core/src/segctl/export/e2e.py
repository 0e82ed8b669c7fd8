"""The end-to-end (``nms=True``) wrapper: model + NMS + mask assembly in one traceable module.

Why in the core: every format that offers ``nms=True`` (ONNX, TorchScript, and later others) must
produce the same outputs, and verification needs the same computation in eager PyTorch as the
reference. The wrapper uses only traceable tensor ops plus ``torchvision.ops.batched_nms``, which
exports to ONNX ``NonMaxSuppression``. All images of a batch go through one NMS call (boxes are
grouped by ``image * nc + class``), so the batch dimension stays dynamic.

Outputs (``B`` images, ``D = min(max_det, candidates)`` slots, unused slots zero):
``boxes`` [B, D, 4] xyxy input pixels, ``scores`` [B, D], ``classes`` [B, D] int64,
``masks`` [B, D, H/4, W/4] (or [B, D, H, W] with ``retina_masks``) sigmoid probabilities already
cropped to their box (threshold at 0.5), ``num`` [B] int64 valid detections per image.

With ``end2end=True`` (a model whose head has one-to-one outputs, see docs/contracts.md) the same
wrapper keeps the top ``max_det`` scores above ``conf`` without any NMS op: the outputs are final.
"""
from __future__ import annotations

from typing import Any

OUTPUT_NAMES = ("boxes", "scores", "classes", "masks", "num")

_CLASS: list = []


def split_outputs(out: Any):
    """``(pred, proto)`` from an eval-mode segment model's output (tolerates extra nesting)."""
    if isinstance(out, dict):
        return out["pred"], out["proto"]
    if isinstance(out, (list, tuple)):
        if len(out) == 2 and hasattr(out[0], "shape") and hasattr(out[1], "shape"):
            return out[0], out[1]
        if len(out) >= 1 and isinstance(out[0], (list, tuple)):
            return split_outputs(out[0])
    raise TypeError(f"expected (pred, proto) from a segment model, got {type(out).__name__}")


def _class():
    if _CLASS:
        return _CLASS[0]
    import torch
    import torchvision

    class End2End(torch.nn.Module):
        """See the module docstring. ``pre_k`` (0 = all) keeps only the best candidates per image
        before NMS; it is fixed when traced, so dynamic-size exports use 0."""

        def __init__(self, model, nc: int, conf: float, iou: float, max_det: int,
                     retina_masks: bool = False, pre_k: int = 0, agnostic: bool = False, nms: bool = True):
            super().__init__()
            self.model = model
            self.nc, self.conf, self.iou, self.max_det = int(nc), float(conf), float(iou), int(max_det)
            self.retina_masks, self.pre_k, self.agnostic = bool(retina_masks), int(pre_k), bool(agnostic)
            self.nms = bool(nms)  # False: the model's outputs are one-to-one (end2end), final as they are

        def forward(self, x):
            pred, proto = split_outputs(self.model(x))
            p = pred.transpose(1, 2)
            nc = self.nc
            xy, wh = p[..., 0:2], p[..., 2:4]
            boxes = torch.cat((xy - wh / 2, xy + wh / 2), dim=-1)
            scores, classes = p[..., 4:4 + nc].max(dim=-1)
            coef = p[..., 4 + nc:]
            if self.pre_k and self.pre_k < scores.shape[1]:
                scores, idx = scores.topk(self.pre_k, dim=1)
                boxes = boxes.gather(1, idx.unsqueeze(-1).expand(-1, -1, 4))
                classes = classes.gather(1, idx)
                coef = coef.gather(1, idx.unsqueeze(-1).expand(-1, -1, coef.shape[-1]))
            b, k = scores.shape[0], scores.shape[1]
            image = torch.arange(b, device=x.device).view(-1, 1).expand(b, k)
            group = image if self.agnostic else image * nc + classes
            flat_scores = scores.reshape(-1)
            if self.nms:
                keep = torchvision.ops.batched_nms(boxes.reshape(-1, 4).float(), flat_scores.float(),
                                                   group.reshape(-1), self.iou)
                kept = torch.zeros_like(flat_scores).scatter(0, keep, torch.ones_like(keep, dtype=flat_scores.dtype))
            else:  # one-to-one outputs: top-k and the confidence threshold only, no NMS op in the graph
                kept = torch.ones_like(flat_scores)
            ranked = torch.where((kept.view(b, k) > 0) & (scores > self.conf), scores, torch.full_like(scores, -1.0))
            top, ti = ranked.topk(min(self.max_det, k), dim=1)
            valid = top > -0.5
            validf = valid.to(boxes.dtype)
            out_boxes = boxes.gather(1, ti.unsqueeze(-1).expand(-1, -1, 4)) * validf.unsqueeze(-1)
            out_scores = top.clamp(min=0) * validf
            out_classes = classes.gather(1, ti) * valid.to(classes.dtype)
            out_coef = coef.gather(1, ti.unsqueeze(-1).expand(-1, -1, coef.shape[-1]))
            masks = self._masks(out_coef, proto, out_boxes, x) * validf.view(b, -1, 1, 1)
            return out_boxes, out_scores, out_classes, masks, valid.sum(dim=1)

        def _masks(self, coef, proto, boxes, x):
            b, nm, mh, mw = proto.shape
            logits = torch.matmul(coef, proto.reshape(b, nm, -1)).reshape(b, -1, mh, mw)
            h, w = x.shape[2], x.shape[3]
            if self.retina_masks:
                logits = torch.nn.functional.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
                scale_x = scale_y = 1.0
                mh, mw = h, w
            else:
                scale_x, scale_y = mw / w, mh / h
            x1 = (boxes[..., 0] * scale_x).unsqueeze(-1).unsqueeze(-1)
            y1 = (boxes[..., 1] * scale_y).unsqueeze(-1).unsqueeze(-1)
            x2 = (boxes[..., 2] * scale_x).unsqueeze(-1).unsqueeze(-1)
            y2 = (boxes[..., 3] * scale_y).unsqueeze(-1).unsqueeze(-1)
            cols = torch.arange(mw, device=x.device, dtype=boxes.dtype).view(1, 1, 1, -1)
            rows = torch.arange(mh, device=x.device, dtype=boxes.dtype).view(1, 1, -1, 1)
            inside = (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)
            return logits.sigmoid() * inside.to(logits.dtype)

    _CLASS.append(End2End)
    return End2End


def end2end(model: Any, args: dict, nc: int):
    """Wrap ``model`` for ``nms=True`` export using the validated export ``args``."""
    cls = _class()
    pre_k = 0 if args.get("dynamic") else max(1000, int(args.get("max_det", 300)))
    return cls(model, nc=nc, conf=args.get("conf", 0.25), iou=args.get("iou", 0.7),
               max_det=args.get("max_det", 300), retina_masks=args.get("retina_masks", False),
               pre_k=pre_k, nms=not args.get("end2end")).train(False)
