"""Average precision, COCO style (IoU 0.50:0.95:0.05, 101 recall points).

Why stats are tiny: per prediction only ``tp [n, 10]``, ``conf``, ``pred_cls`` (and optionally
``ignore [n, 10]`` for crowd matches) are kept, plus the GT classes; masks and boxes are never
stored across images, so validation memory does not grow with the dataset.
"""
from __future__ import annotations

import numpy as np
import torch

IOUV = torch.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def match_predictions(pred_cls, true_cls, iou_matrix, iouv=IOUV, conf=None):
    """Greedy, class-aware matching of predictions to GT at each IoU threshold.

    Args: pred_cls ``[n]``, true_cls ``[m]``, iou_matrix ``[m, n]`` (GT x prediction), iouv ``[T]``,
    conf ``[n]`` (optional). Returns bool ``[n, T]``: prediction j is a true positive at threshold t.

    With ``conf`` the COCO protocol is used (what pycocotools' COCOeval does): predictions are
    visited in decreasing confidence and each takes the best-IoU unmatched GT of its class above
    the threshold. Without it, the pair-greedy rule below (by IoU) is used.

    Pairs are taken in decreasing IoU, each GT and each prediction used once (exact greedy). It is
    computed in rounds over all thresholds at once: a pair that is the best remaining one for both
    its GT and its prediction is accepted; accepted rows/columns are removed; repeat.
    """
    if conf is not None:
        return _match_by_confidence(pred_cls, true_cls, iou_matrix, iouv, conf)
    pred_cls, true_cls = torch.as_tensor(pred_cls), torch.as_tensor(true_cls)
    iou = torch.as_tensor(iou_matrix, dtype=torch.float32)
    iouv = torch.as_tensor(iouv, dtype=torch.float32, device=iou.device)
    m, n = iou.shape
    T = iouv.numel()
    correct = torch.zeros((n, T), dtype=torch.bool, device=iou.device)
    if m == 0 or n == 0:
        return correct
    same = true_cls.view(-1, 1).to(iou.device) == pred_cls.view(1, -1).to(iou.device)
    score = torch.where(same[None] & (iou[None] >= iouv.view(-1, 1, 1)), iou[None], iou.new_tensor(-1.0))
    rows = torch.arange(m, device=iou.device)
    for _ in range(min(m, n)):
        valid = score >= 0
        if not valid.any():
            break
        col_best = score.amax(1, keepdim=True)  # best GT for each prediction  [T, 1, n]
        row_best = score.amax(2, keepdim=True)  # best prediction for each GT   [T, m, 1]
        mutual = valid & (score == col_best) & (score == row_best)
        # ties: one GT per prediction (lowest index), then one prediction per GT
        first_gt = torch.where(mutual, rows.view(1, -1, 1), m).amin(1, keepdim=True)
        mutual &= rows.view(1, -1, 1) == first_gt
        first_pred = torch.where(mutual, torch.arange(n, device=iou.device).view(1, 1, -1), n).amin(2, keepdim=True)
        mutual &= torch.arange(n, device=iou.device).view(1, 1, -1) == first_pred
        used_pred, used_gt = mutual.any(1), mutual.any(2)  # [T, n], [T, m]
        correct |= used_pred.T
        score = score.masked_fill(used_pred[:, None, :] | used_gt[:, :, None], -1.0)
    return correct


def _match_by_confidence(pred_cls, true_cls, iou_matrix, iouv, conf):
    """COCO matching: one loop over predictions (high confidence first), vectorised over the
    thresholds and GTs, so the cost is ``n`` small array operations per image."""
    iou = torch.as_tensor(iou_matrix, dtype=torch.float32).cpu().numpy()
    m, n = iou.shape
    thr = np.asarray(torch.as_tensor(iouv, dtype=torch.float32).cpu(), np.float32)
    correct = np.zeros((n, thr.size), bool)
    if m == 0 or n == 0:
        return torch.from_numpy(correct)
    same = np.asarray(torch.as_tensor(true_cls).cpu()).reshape(-1, 1) == np.asarray(torch.as_tensor(pred_cls).cpu()).reshape(1, -1)
    iou = np.where(same, iou, -1.0)
    taken = np.zeros((thr.size, m), bool)
    order = np.argsort(-np.asarray(torch.as_tensor(conf, dtype=torch.float32).cpu()), kind="stable")
    # a prediction with no same-class GT at IoU >= the lowest threshold matches nothing and takes
    # nothing, so skipping it changes no result; at conf 0.001 that is most of the 300 per image
    order = order[(iou >= thr.min()).any(0)[order]]
    for j in order:
        col = iou[:, j]
        cand = np.where(taken | (col[None, :] < thr[:, None]), -1.0, col[None, :])  # [T, m]
        best = cand.argmax(1)
        ok = cand[np.arange(thr.size), best] >= 0
        correct[j] = ok
        taken[np.arange(thr.size)[ok], best[ok]] = True
    return torch.from_numpy(correct)


def compute_ap(recall: np.ndarray, precision: np.ndarray):
    """AP of one class at one threshold from cumulative recall/precision (sorted by confidence).

    COCO 101-point rule: make precision monotone (running max from the right), then average the
    precision at the first operating point reaching each recall level 0, 0.01, ..., 1 (0 where the
    level is never reached). Returns ``(ap, envelope_precision, recall)``.
    """
    if recall.size == 0:
        return 0.0, precision, recall
    env = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    q = np.where(idx < len(env), env[np.minimum(idx, len(env) - 1)], 0.0)
    return float(q.mean()), env, recall


def smooth(y: np.ndarray, f: float = 0.05) -> np.ndarray:
    """Box filter of fractional width ``f`` (why: pick the best-F1 confidence robustly)."""
    nf = round(len(y) * f * 2) // 2 + 1
    p = np.ones(nf // 2)
    yp = np.concatenate((p * y[0], y, p * y[-1]), 0)
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def ap_per_class(tp, conf, pred_cls, target_cls, ignore=None, eps: float = 1e-16):
    """Per-class precision, recall, F1 (at the confidence maximising mean F1) and AP.

    Args: tp ``[n, T]`` bool, conf ``[n]``, pred_cls ``[n]``, target_cls ``[g]`` (GT classes, crowd
    excluded), ignore ``[n, T]`` bool (predictions matched to crowd regions: neither TP nor FP).
    Returns dict: ``p r f1 [k]``, ``ap [k, T]``, ``classes [k]`` (classes having GT, sorted),
    ``tp fp [k]`` counts at that confidence, ``px [1000]`` and curves ``prec [k,1000]`` (vs recall,
    at IoU 0.5), ``p_curve r_curve f1_curve [k,1000]`` (vs confidence).
    """
    tp = np.asarray(tp, dtype=np.float64)
    tp = tp.reshape(len(tp), -1) if tp.size else tp.reshape(0, 10)
    T = tp.shape[1]
    conf, pred_cls = np.asarray(conf, np.float64).ravel(), np.asarray(pred_cls).ravel()
    target_cls = np.asarray(target_cls).ravel()
    ign = np.zeros_like(tp) if ignore is None else np.asarray(ignore, np.float64).reshape(tp.shape)
    order = np.argsort(-conf, kind="mergesort")
    tp, conf, pred_cls, ign = tp[order], conf[order], pred_cls[order], ign[order]
    classes, nt = np.unique(target_cls, return_counts=True)
    k = len(classes)
    px = np.linspace(0, 1, 1000)
    ap = np.zeros((k, T))
    p_curve, r_curve, prec = np.zeros((k, 1000)), np.zeros((k, 1000)), np.zeros((k, 1000))
    for ci, c in enumerate(classes):  # loop over classes (not instances); each step vectorised
        sel = pred_cls == c
        if not sel.any():
            continue
        tpc = tp[sel].cumsum(0)
        fpc = ((1 - tp[sel]) * (1 - ign[sel])).cumsum(0)
        recall = tpc / (nt[ci] + eps)
        precision = tpc / np.maximum(tpc + fpc, eps)
        r_curve[ci] = np.interp(-px, -conf[sel], recall[:, 0], left=0)
        p_curve[ci] = np.interp(-px, -conf[sel], precision[:, 0], left=1)
        for j in range(T):
            ap[ci, j], env, rec = compute_ap(recall[:, j], precision[:, j])
            if j == 0:
                prec[ci] = np.interp(px, np.concatenate(([0.0], rec, [1.0])),
                                     np.concatenate(([1.0], env, [0.0])))
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + eps)
    best = int(smooth(f1_curve.mean(0), 0.1).argmax()) if k else 0
    p, r, f1 = p_curve[:, best], r_curve[:, best], f1_curve[:, best]
    tp_n = (r * nt).round()
    fp_n = (tp_n / (p + eps) - tp_n).round()
    return dict(p=p, r=r, f1=f1, ap=ap, classes=classes.astype(int), tp=tp_n, fp=fp_n, px=px, prec=prec,
                p_curve=p_curve, r_curve=r_curve, f1_curve=f1_curve, nt=nt)
