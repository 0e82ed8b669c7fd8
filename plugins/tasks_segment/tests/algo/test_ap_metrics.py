import contextlib
import io

import numpy as np
import pytest
import torch

from segctl_tasks_segment.ap import ap_per_class, match_predictions
from segctl_tasks_segment.metrics import (ConfusionMatrix, DetMetrics, SegmentMetrics, StatsAccumulator,
                                          evaluate_image)


def test_match_predictions_greedy_by_iou_class_aware():
    iou = torch.tensor([[0.9, 0.6, 0.0], [0.8, 0.0, 0.55]])  # GT x pred
    pred_cls, true_cls = torch.tensor([0, 0, 1]), torch.tensor([0, 0])
    c = match_predictions(pred_cls, true_cls, iou, torch.tensor([0.5, 0.7]))
    # GT0-pred0 (0.9) first; GT1 can then only take pred1? no: IoU(GT1, pred1)=0 -> pred1 unmatched
    assert c[:, 0].tolist() == [True, False, False]  # pred2 is class 1 -> never matches
    # exact greedy: when pred0 is taken by GT0, GT1 falls back to nothing >= 0.5 except pred0
    iou2 = torch.tensor([[0.9, 0.0], [0.8, 0.7]])
    c2 = match_predictions(torch.tensor([0, 0]), torch.tensor([0, 0]), iou2, torch.tensor([0.5, 0.75, 0.85]))
    assert c2.tolist() == [[True, True, True], [True, False, False]]


def test_ap_hand_computed():
    tp = np.array([[1], [0], [1]], bool)
    res = ap_per_class(tp, [0.9, 0.8, 0.7], [0, 0, 0], [0, 0])
    assert res["ap"][0, 0] == pytest.approx((51 + 50 * 2 / 3) / 101)
    res = ap_per_class(np.array([[1]], bool), [0.9], [0], [0, 0])  # one miss
    assert res["ap"][0, 0] == pytest.approx(51 / 101)
    res = ap_per_class(np.ones((3, 10), bool), [0.9, 0.8, 0.7], [1, 1, 2], [1, 2, 1])
    assert np.allclose(res["ap"], 1.0) and res["classes"].tolist() == [1, 2]
    assert np.allclose(res["p"], 1.0) and np.allclose(res["r"], 1.0)
    res = ap_per_class(np.zeros((0, 10), bool), [], [], [0])
    assert np.allclose(res["ap"], 0.0)


def test_crowd_predictions_are_ignored_not_fp():
    gt = torch.tensor([[0.0, 0, 10, 10]])
    preds = torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]])
    crowd = torch.tensor([[40.0, 40, 90, 90]])  # covers pred 1 entirely
    r = evaluate_image(preds, torch.tensor([0.5, 0.9, 0.8]), torch.tensor([0, 0, 0]), gt, torch.tensor([0]),
                       crowd_boxes=crowd)
    assert r["tp"][:, 0].tolist() == [True, False, False]
    assert r["ignore"][:, 0].tolist() == [False, True, False]
    with_ign = ap_per_class(r["tp"], r["conf"], r["pred_cls"], r["target_cls"], ignore=r["ignore"])
    without = ap_per_class(r["tp"][[0, 2]], r["conf"][[0, 2]], r["pred_cls"][[0, 2]], r["target_cls"])
    assert with_ign["ap"][0, 0] == pytest.approx(without["ap"][0, 0])
    plain = ap_per_class(r["tp"], r["conf"], r["pred_cls"], r["target_cls"])
    assert plain["ap"][0, 0] < with_ign["ap"][0, 0]


def _synthetic(seed=0, n_img=12, nc=3):
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n_img):
        k = rng.integers(1, 6)
        xy = rng.uniform(0, 400, (k, 2))
        wh = rng.uniform(30, 150, (k, 2))
        gt = np.concatenate((xy, xy + wh), 1)
        gc = rng.integers(0, nc, k)
        keep = rng.random(k) > 0.15  # some misses
        jit = rng.normal(0, 6, (k, 4))
        pb = (gt + jit)[keep]
        pc = gc[keep].copy()
        flip = rng.random(len(pc)) < 0.1
        pc[flip] = (pc[flip] + 1) % nc
        nfp = rng.integers(0, 3)
        fxy = rng.uniform(0, 400, (nfp, 2))
        pb = np.concatenate((pb, np.concatenate((fxy, fxy + rng.uniform(30, 100, (nfp, 2))), 1)))
        pc = np.concatenate((pc, rng.integers(0, nc, nfp)))
        ps = rng.uniform(0.05, 1.0, len(pc))
        images.append((gt, gc, pb, pc, ps))
    return images


def test_against_pycocotools():
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = _synthetic()
    stats = StatsAccumulator(mask=False)
    gts, dets, ann_id = [], [], 1
    for i, (gt, gc, pb, pc, ps) in enumerate(images):
        r = evaluate_image(torch.tensor(pb).float(), torch.tensor(ps), torch.tensor(pc), torch.tensor(gt).float(),
                           torch.tensor(gc))
        stats.update(**r)
        for b, c in zip(gt, gc):
            w, h = b[2] - b[0], b[3] - b[1]
            gts.append(dict(id=ann_id, image_id=i, category_id=int(c), bbox=[*map(float, b[:2]), float(w), float(h)],
                            area=float(w * h), iscrowd=0))
            ann_id += 1
        for b, c, s in zip(pb, pc, ps):
            dets.append(dict(image_id=i, category_id=int(c), score=float(s),
                             bbox=[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]))
    coco = COCO()
    coco.dataset = dict(images=[dict(id=i, width=640, height=640) for i in range(len(images))],
                        annotations=gts, categories=[dict(id=c) for c in range(3)])
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        cd = coco.loadRes(dets)
        ev = COCOeval(coco, cd, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    dm = DetMetrics({0: "a", 1: "b", 2: "c"}).process(**stats.result())
    print('segctl', dm.box.map, dm.box.map50, dm.box.map75, 'coco', ev.stats[:3])
    assert abs(dm.box.map - ev.stats[0]) < 0.01, (dm.box.map, ev.stats[0])
    assert abs(dm.box.map50 - ev.stats[1]) < 0.01, (dm.box.map50, ev.stats[1])
    assert abs(dm.box.map75 - ev.stats[2]) < 0.01


def test_segment_metrics_api():
    stats = StatsAccumulator(mask=True)
    gm = torch.zeros(2, 8, 8, dtype=torch.bool)
    gm[0, :4] = True
    gm[1, 4:] = True
    boxes = torch.tensor([[0.0, 0, 8, 4], [0, 4, 8, 8]])
    pm = gm.clone()
    pm[1, 4:6] = False  # mask IoU 0.5 for the second prediction
    r = evaluate_image(boxes, torch.tensor([0.9, 0.8]), torch.tensor([0, 2]), boxes, torch.tensor([0, 2]),
                       pred_masks=pm, gt_masks=gm)
    stats.update(**r)
    m = SegmentMetrics({0: "a", 1: "b", 2: "c"}).process(**stats.result())
    assert m.box.map == pytest.approx(1.0) and m.box.map50 == pytest.approx(1.0)
    assert m.seg.map50 == pytest.approx(1.0) and m.seg.map == pytest.approx(0.55)
    assert m.seg.maps.tolist() == pytest.approx([1.0, 0.55, 0.1])  # class 1 has no GT -> mean
    assert m.box.ap_class_index.tolist() == [0, 2] and m.seg.class_result(1) == pytest.approx((1, 1, 1, 0.1))
    d = m.results_dict
    assert list(d) == m.keys + ["fitness"] and "metrics/mAP50-95(M)" in d and "metrics/precision(B)" in d
    assert m.fitness == pytest.approx(0.1 + 0.9 + 0.1 + 0.9 * 0.55)
    assert set(m.speed) >= {"preprocess", "inference", "postprocess"}


def test_confusion_matrix(tmp_path):
    cm = ConfusionMatrix(nc=2, conf=0.25, iou=0.45)
    det = torch.tensor([[0.0, 0, 10, 10, 0.9, 0], [20, 20, 30, 30, 0.9, 1], [50, 50, 60, 60, 0.9, 1],
                        [0, 0, 10, 10, 0.1, 1]])
    gt = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [80, 80, 90, 90]])
    cm.process_batch(det, gt, torch.tensor([0, 0, 1]))
    cm.process_batch(None, gt[:1], torch.tensor([1]))
    M = cm.matrix
    assert M[0, 0] == 1 and M[1, 0] == 1  # correct and confused
    assert M[1, 2] == 1  # false positive (pred 1 on background)
    assert M[2, 1] == 2  # missed class-1 GTs
    assert M.sum() == 5
    p = cm.plot(normalize=True, path=tmp_path / "cm.png", names={0: "a", 1: "b"})
    assert p.stat().st_size > 1000


def test_evaluate_image_empty_cases():
    m = torch.zeros(2, 8, 8, dtype=torch.bool)
    m[:, :4, :4] = True
    b = torch.tensor([[0.0, 0, 4, 4], [0, 0, 4, 4]])
    none = evaluate_image(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0), b, torch.tensor([0, 1]),
                          torch.zeros(0, 8, 8, dtype=torch.bool), m)
    assert none["tp"].shape == (0, 10) and none["tp_m"].shape == (0, 10) and none["target_cls"].tolist() == [0, 1]
    fp = evaluate_image(b, torch.tensor([0.5, 0.4]), torch.tensor([0, 1]), torch.zeros(0, 4), torch.zeros(0),
                        m, torch.zeros(0, 8, 8, dtype=torch.bool), crowd_masks=m[:1])
    assert not fp["tp_m"].any() and fp["ignore_m"].all()  # both predictions lie inside the crowd mask
    big = torch.rand(3, 300 * 300) > 0.5  # pixel-block path agrees with a direct computation
    from segctl_tasks_segment.masks_ops import mask_iou

    f = big.float()
    inter = f @ f.T
    ref = inter / (f.sum(1)[:, None] + f.sum(1)[None] - inter)
    assert torch.allclose(mask_iou(big, big), ref, atol=1e-5)
