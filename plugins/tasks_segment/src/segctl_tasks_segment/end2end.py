"""NMS-free (end-to-end) post-processing, asked of the model instead of assumed.

The public protocol (docs/contracts.md, "End-to-end heads"): a model's head that has a one-to-one
branch — trained with a single positive per object, so its top scores are already final
detections — declares ``end2end_capable = True`` and reads that branch in eval mode while its
``end2end`` attribute is true. Its eval output keeps the ordinary layout (``pred [B, 4+nc+nm, N]``,
``proto``), so only the post-processing changes: the best class per anchor, the ``max_det`` highest
scores, those at or above ``conf`` — no NMS, no IoU threshold. Exported artifacts tell the same
with ``end2end: true`` in their metadata.

``end2end=False`` (the default) leaves the head as it is: its default outputs go through NMS.
"""
from __future__ import annotations

import torch


def head_of(backend):
    """The torch head module behind a backend, or ``None`` (exported artifacts have none)."""
    model = getattr(backend, "model", None)
    if not isinstance(model, torch.nn.Module) or isinstance(model, torch.jit.ScriptModule):
        return None  # a TorchScript artifact is an exported graph: no head to switch
    head = getattr(model, "head", None)
    if head is None and hasattr(model, "model") and len(getattr(model, "model", ())):
        head = model.model[-1]
    return head if isinstance(head, torch.nn.Module) else None


def configure(backend, want: bool) -> bool:
    """Switch the backend's head to its one-to-one outputs when ``want``; returns whether the
    outputs to post-process are end-to-end. Refuses (exit 2) a model that has no such head."""
    meta = getattr(backend, "metadata", {}) or {}
    if meta.get("end2end"):  # an artifact exported end-to-end has no other outputs
        return True
    head = head_of(backend)
    capable = bool(getattr(head, "end2end_capable", False))
    if want and not capable:
        from segctl.errors import UsageError

        raise UsageError("end2end=True: this model has no one-to-one (NMS-free) head",
                         hint="drop end2end=True (NMS is applied), or use a model whose head is end-to-end; "
                              "an exported artifact must itself be exported with end2end=True")
    if capable:
        head.end2end = bool(want)
    return bool(want)


def topk_detections(pred, conf: float = 0.25, max_det: int = 300, nc: int = 0) -> list:
    """Final detections from one-to-one outputs ``[B, 4+nc+nm, N]`` (or ``(pred, proto)``).

    Returns the same layout as NMS: per image ``[k, 6+nm]`` = x1, y1, x2, y2, conf, cls, mask
    coefficients, highest score first."""
    if isinstance(pred, (list, tuple)):
        pred = pred[0]
    nc = nc or pred.shape[1] - 4
    out = []
    for p in pred.transpose(1, 2):  # [N, 4+nc+nm]
        score, cls = p[:, 4:4 + nc].max(1)
        score, idx = score.topk(min(int(max_det), score.shape[0]))
        keep = score >= conf
        idx, score = idx[keep], score[keep]
        b = p[idx, :4]
        xyxy = torch.cat((b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2), 1)
        out.append(torch.cat((xyxy, score[:, None], cls[idx, None].to(p.dtype), p[idx, 4 + nc:]), 1))
    return out
