"""Box post-processing cost: NMS on one-to-many outputs vs top-k on one-to-one outputs, 50 instances.

Synthetic ``[1, 4+80+32, 8400]`` predictions (one-to-many: ~20 overlapping candidates per instance;
one-to-one: one). Masks excluded (the same for both). ``python benchmarks/e2e_postprocess.py``."""
import time, torch
from segctl_tasks_segment.ops import non_max_suppression
from segctl_tasks_segment.end2end import topk_detections
torch.manual_seed(0)
nc, nm, N = 80, 32, 8400
def pred(one_to_one):
    p = torch.zeros(1, 4 + nc + nm, N)
    p[0, :2] = torch.rand(2, N) * 640; p[0, 2:4] = 20 + torch.rand(2, N) * 60
    p[0, 4:4 + nc] = torch.rand(nc, N) * 0.01
    centres = torch.rand(50, 2) * 600 + 20
    for i in range(50):  # 50 instances: one-to-many -> ~20 overlapping candidates each, one-to-one -> 1
        k = 1 if one_to_one else 20
        idx = torch.randint(0, N, (k,))
        p[0, :2, idx] = centres[i][:, None] + torch.randn(2, k)
        p[0, 2:4, idx] = 40
        p[0, 4 + i % nc, idx] = 0.5 + 0.4 * torch.rand(k)
    return p
pm, po = pred(False), pred(True)
def t(f, n=50):
    f(); t0 = time.perf_counter()
    for _ in range(n): r = f()
    return (time.perf_counter() - t0) / n * 1e3, len(r[0])
print("NMS (one-to-many, 50 instances x 20 candidates): %.2f ms, %d dets" % t(lambda: non_max_suppression(pm, conf=0.25, iou=0.7, nc=nc)))
print("top-k (one-to-one, 50 instances):               %.2f ms, %d dets" % t(lambda: topk_detections(po, conf=0.25, nc=nc)))
