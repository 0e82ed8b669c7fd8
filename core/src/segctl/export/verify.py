"""Run a fresh artifact in its own runtime and compare it with the PyTorch model.

Why: an export that loads is not an export that works (a baked batch size, an op the runtime
computes differently, fp16 overflow). The reference never checks; segctl checks every artifact on a
fixed seeded sample — the export batch at ``imgsz`` and, for ``dynamic``, also batch 2 at a
non-square size — and records the numbers in the artifact's metadata.

Raw layout: max abs diff of boxes, class scores, mask coefficients and prototypes; ``allclose``
with the format's ``rtol``/``atol``; IoU of binarised masks of the top-10 anchors; and the class of
those anchors (only where PyTorch's best class leads the runner-up by more than the tolerance,
since near-ties on an untrained model can legitimately flip). ``nms=True`` layout: every PyTorch
detection must be found in the artifact (same class, box IoU >= 0.9), masks compared on the pairs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ExportError

TOPK = 10


def sample_inputs(args: dict) -> list:
    """The fixed seeded inputs for ``args`` (float32 0..1, NCHW)."""
    import torch

    h, w = args["imgsz"]
    gen = torch.Generator().manual_seed(0)
    xs = [torch.rand((int(args.get("batch", 1)), 3, h, w), generator=gen)]
    if args.get("dynamic"):
        w2 = w - 32 if w > 64 else w + 32
        xs.append(torch.rand((2, 3, h, w2), generator=gen))
    return xs


def reference(model: Any, x: Any, args: dict, nc: int):
    """PyTorch outputs for ``x``: ``(pred, proto)`` or the ``nms=True`` output tuple as a dict."""
    import torch

    from .e2e import OUTPUT_NAMES, end2end, split_outputs

    with torch.no_grad():
        if args.get("nms"):
            return dict(zip(OUTPUT_NAMES, end2end(model, args, nc)(x)))
        return split_outputs(model(x))


def check_finite(model: Any, args: dict) -> None:
    """Refuse a model whose forward gives NaN/Inf on the sample: its artifact would be garbage."""
    import torch

    from .e2e import split_outputs

    param = next(iter(model.parameters()), None)
    x = sample_inputs({**args, "dynamic": False})[0]
    if param is not None:
        x = x.to(param.device)
    with torch.no_grad():
        pred, proto = split_outputs(model(x))
    for name, t in (("predictions", pred), ("prototypes", proto)):
        if not torch.isfinite(t).all():
            raise ExportError(f"the model's forward pass gives non-finite {name} (NaN/Inf) on the sample input; refusing to export",
                              hint="check the weights (a diverged training run?) before exporting")


def _close(a, b, tol: dict) -> bool:
    return bool(((a - b).abs() <= tol["atol"] + tol["rtol"] * b.abs()).all())


def _mask_iou(ma, mb) -> float:
    inter = (ma & mb).sum().item()
    union = (ma | mb).sum().item()
    return 1.0 if union == 0 else inter / union


def compare_raw(ref: tuple, out: tuple, nc: int, tol: dict) -> dict:
    """Compare the default layout ``(pred [B,4+nc+nm,N], proto [B,nm,h,w])``."""
    import torch

    (rp, rq), (op, oq) = (t.float().cpu() for t in ref), (t.float().cpu() for t in out)
    if rp.shape != op.shape or rq.shape != oq.shape:
        return {"passed": False, "error": f"shape mismatch {tuple(op.shape)}/{tuple(oq.shape)} vs "
                                          f"{tuple(rp.shape)}/{tuple(rq.shape)}"}
    parts = {"boxes": (rp[:, :4], op[:, :4]), "scores": (rp[:, 4:4 + nc], op[:, 4:4 + nc]),
             "coefficients": (rp[:, 4 + nc:], op[:, 4 + nc:]), "proto": (rq, oq)}
    diffs = {k: float((a - b).abs().max()) if a.numel() else 0.0 for k, (a, b) in parts.items()}
    close = all(_close(b, a, tol) for a, b in parts.values())
    b, nm = rq.shape[0], rq.shape[1]
    scores_r = rp[:, 4:4 + nc]
    best = scores_r.max(1).values  # [B, N]
    k = min(TOPK, best.shape[1])
    idx = best.topk(k, dim=1).indices  # [B, k]
    gather = lambda p, rows: p[:, rows].gather(2, idx.unsqueeze(1).expand(-1, p[:, rows].shape[1], -1))  # noqa: E731
    coef_r, coef_o = gather(rp, slice(4 + nc, None)), gather(op, slice(4 + nc, None))
    masks_r = torch.einsum("bmk,bmp->bkp", coef_r, rq.reshape(b, nm, -1)).sigmoid() > 0.5
    masks_o = torch.einsum("bmk,bmp->bkp", coef_o, oq.reshape(b, nm, -1)).sigmoid() > 0.5
    iou = _mask_iou(masks_r, masks_o)
    sr, so = gather(rp, slice(4, 4 + nc)), gather(op, slice(4, 4 + nc))
    top2 = sr.topk(min(2, nc), dim=1).values
    margin = (top2[:, 0] - top2[:, -1]) if nc > 1 else torch.ones_like(top2[:, 0])
    decisive = margin > 2 * (tol["atol"] + tol["rtol"])
    same_cls = bool((sr.argmax(1) == so.argmax(1))[decisive].all())
    return {"passed": bool(close and iou >= tol["iou"] and same_cls), "max_abs_diff": max(diffs.values()),
            "diff": diffs, "mask_iou": round(iou, 6), "topk_classes_equal": same_cls}


def compare_nms(ref: dict, out: dict, tol: dict) -> dict:
    """Compare ``nms=True`` outputs detection by detection."""
    import torch
    from torchvision.ops import box_iou

    ref = {k: v.cpu() for k, v in ref.items()}
    out = {k: v.cpu() for k, v in out.items()}
    found = total = 0
    box_diff = score_diff = 0.0
    inter = union = 0
    for i in range(ref["num"].shape[0]):
        nr, no = int(ref["num"][i]), int(out["num"][i])
        total += nr
        if nr == 0 or no == 0:
            continue
        rb, ob = ref["boxes"][i, :nr].float(), out["boxes"][i, :no].float()
        ious = box_iou(rb, ob)
        ious[ref["classes"][i, :nr].view(-1, 1) != out["classes"][i, :no].view(1, -1)] = 0
        best, j = ious.max(1)
        hit = best >= 0.9
        found += int(hit.sum())
        if hit.any():
            box_diff = max(box_diff, float((rb[hit] - ob[j[hit]]).abs().max()))
            score_diff = max(score_diff, float((ref["scores"][i, :nr][hit] - out["scores"][i, j[hit]].float()).abs().max()))
            mr = ref["masks"][i, :nr][hit] > 0.5
            mo = out["masks"][i, j[hit]] > 0.5
            inter += int((mr & mo).sum())
            union += int((mr | mo).sum())
    recall = 1.0 if total == 0 else found / total
    iou = 1.0 if union == 0 else inter / union
    extra = abs(int(out["num"].sum()) - int(ref["num"].sum()))
    passed = recall >= 0.95 and iou >= tol["iou"] * 0.98 and extra <= max(1, 0.05 * total)
    return {"passed": bool(passed), "detections": total, "recall": round(recall, 6), "max_abs_diff": box_diff,
            "diff": {"boxes": box_diff, "scores": score_diff}, "mask_iou": round(iou, 6)}


def verify_artifact(artifact: Any, model: Any, args: dict, session: Any, *, tolerance: dict, backend: str = "") -> dict:
    """Run ``artifact`` through its backend on the fixed samples and compare with ``model``.

    :return: the parity dict stored in the artifact's metadata (``passed``, ``max_abs_diff``,
        ``mask_iou``, per-sample details, the tolerance used).
    :raises ExportError: beyond tolerance, unless ``args['verify'] == 'warn'``.
    """
    from .backends import load_backend
    from .metadata import model_names

    nc = len(model_names(model))
    runner = load_backend(artifact, session, device=args.get("device", "cpu"), backend=backend)
    param = next(iter(model.parameters()), None)
    samples = []
    for x in sample_inputs(args):
        if param is not None:
            x = x.to(param.device)
        ref = reference(model, x, args, nc)
        try:
            out = runner(x)
        except Exception as e:  # noqa: BLE001 - a runtime failure is a verification failure, reported as such
            first = (str(e).strip().splitlines() or [type(e).__name__])[-1][:300]
            samples.append({"input": list(x.shape), "passed": False, "error": f"{type(e).__name__}: {first}"})
            continue
        res = compare_nms(ref, out, tolerance) if args.get("nms") else compare_raw(ref, out, nc, tolerance)
        samples.append({"input": list(x.shape), **res})
    parity = {
        "passed": all(s["passed"] for s in samples),
        "max_abs_diff": max(s.get("max_abs_diff", float("inf")) for s in samples),
        "mask_iou": min(s.get("mask_iou", 0.0) for s in samples),
        "tolerance": dict(tolerance),
        "samples": samples,
    }
    errors = [f"input {s['input']}: {s['error']}" for s in samples if s.get("error")]
    if errors:
        parity["error"] = "; ".join(errors)
    if not parity["passed"] and args.get("verify", "fail") == "fail":
        why = (f"the artifact failed to run ({parity['error']})" if errors else
               f"output differs from PyTorch beyond tolerance (max abs diff {parity['max_abs_diff']:.3g}, "
               f"mask IoU {parity['mask_iou']:.4f}; tolerance {tolerance})")
        raise ExportError(
            f"{Path(artifact).name}: {why}",
            hint="pass verify=warn to keep the artifact anyway, or try another opset/precision",
        )
    return parity
