"""nms=True: the graph's outputs are finished detections; checked against an independent
per-image decode of the PyTorch outputs (torchvision NMS), with no post-processing of ONNX outputs."""
import numpy as np
import onnxruntime as ort
import torch
from torchvision.ops import batched_nms, box_iou

from segctl.export import export

CONF, IOU, MAX_DET = 0.5, 0.6, 20


def decode_reference(pred, proto, nc):
    """Independent decode of (pred, proto): per image, conf filter, class-aware NMS, top MAX_DET."""
    out = []
    for p, q in zip(pred, proto):
        p = p.T
        scores, cls = p[:, 4:4 + nc].max(1)
        keep = scores > CONF
        p, scores, cls = p[keep], scores[keep], cls[keep]
        boxes = torch.cat((p[:, :2] - p[:, 2:4] / 2, p[:, :2] + p[:, 2:4] / 2), 1)
        idx = batched_nms(boxes, scores, cls, IOU)[:MAX_DET]
        masks = (p[idx, 4 + nc:] @ q.reshape(q.shape[0], -1)).sigmoid().reshape(-1, *q.shape[1:])
        b = boxes[idx] / 4  # proto grid is 1/4 of the input
        cols, rows = torch.arange(q.shape[2]).view(1, 1, -1), torch.arange(q.shape[1]).view(1, -1, 1)
        inside = (cols >= b[:, 0, None, None]) & (cols < b[:, 2, None, None]) & (rows >= b[:, 1, None, None]) & (rows < b[:, 3, None, None])
        out.append((boxes[idx], scores[idx], cls[idx], (masks * inside) > 0.5))
    return out


def test_end_to_end_outputs_need_no_post_processing(session, tiny, tmp_path):
    path = export(tiny, session, format="onnx", imgsz=64, nms=True, dynamic=True, conf=CONF, iou=IOU,
                  max_det=MAX_DET, output=tmp_path / "e2e.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["boxes", "scores", "classes", "masks", "num"]
    x = np.random.default_rng(5).random((2, 3, 64, 96), dtype=np.float32)
    boxes, scores, classes, masks, num = sess.run(None, {"images": x})
    assert boxes.shape == (2, MAX_DET, 4) and scores.shape == (2, MAX_DET) and classes.shape == (2, MAX_DET)
    assert masks.shape == (2, MAX_DET, 16, 24) and num.shape == (2,)
    with torch.no_grad():
        ref = decode_reference(*tiny(torch.from_numpy(x)), nc=3)
    total = 0
    for i, (rb, rs, rc, rm) in enumerate(ref):
        n = int(num[i])
        assert n == len(rb) and n > 0
        assert not scores[i, n:].any() and not boxes[i, n:].any()  # unused slots are zero
        ious = box_iou(rb, torch.from_numpy(boxes[i, :n]))
        best, j = ious.max(1)
        assert (best > 0.999).all()
        np.testing.assert_allclose(scores[i, j.numpy()], rs.numpy(), atol=1e-5)
        assert (classes[i, j.numpy()] == rc.numpy()).all()
        om = masks[i, j.numpy()] > 0.5
        inter, union = (om & rm.numpy()).sum(), (om | rm.numpy()).sum()
        assert union == 0 or inter / union > 0.99
        total += n
    assert total > 2
