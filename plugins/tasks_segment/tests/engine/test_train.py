"""Training end to end (tiny: 8 images at 64 px, 1–3 epochs). Slow on a loaded 2-core machine."""
from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segctl_tasks_segment.task import SegmentTask
from segctl_tasks_segment.trainer import SegmentTrainer

from .conftest import tmpfs_runner, base_cfg

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).with_name("_train_script.py")


@pytest.fixture(scope="module")
def trained(shapes_data, session, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = base_cfg(model="yolov8n-seg.yaml", data=shapes_data, epochs=2, imgsz=64, batch=4, project=str(out),
                   name="t", plots=True)
    return SegmentTask().train(cfg, session)


def test_train_writes_loadable_weights_and_outputs(trained):
    d = trained.save_dir
    for f in ("args.yaml", "results.csv", "results.png", "labels.jpg", "train_batch0.jpg"):
        assert (d / f).exists(), f
    rows = list(csv.DictReader(open(d / "results.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train/seg_loss", "metrics/mAP50-95(M)", "lr/pg0"} <= set(rows[0])
    val = [float(rows[-1][f"val/{n}_loss"]) for n in ("box", "seg", "cls", "dfl")]
    assert all(math.isfinite(v) and v > 0 for v in val), val
    for f in (trained.last, trained.best):
        ck = torch.load(f, weights_only=True)  # plain data only
        assert ck["epoch"] == -1 and ck["optimizer"] is None and ck["ema"] is None
        assert all(v.dtype == torch.float16 for v in ck["model"].values() if v.is_floating_point())
    assert trained.metrics is not None and "metrics/mAP50(M)" in trained.metrics.results_dict


def test_resume_of_finished_run_is_refused(trained, session):
    from segctl.errors import CheckpointError

    cfg = base_cfg(model="yolov8n-seg.yaml", data="unused", resume=str(trained.last))
    with pytest.raises(CheckpointError, match="already finished"):
        SegmentTask().train(cfg, session)


def test_nan_loss_is_skipped_reported_and_never_saved(shapes_data, session, tmp_path, monkeypatch):
    bad = {1, 2, 3}  # 2 batches per epoch: three in a row across the epoch boundary (EMA restore too)

    def hook(self, loss, epoch, i):
        return loss * float("nan") if epoch * self.nb + i in bad else loss

    monkeypatch.setattr(SegmentTrainer, "_loss_hook", hook)
    cfg = base_cfg(model="yolov8n-seg.yaml", data=shapes_data, epochs=2, imgsz=64, batch=4, project=str(tmp_path),
                   name="n", val=False)
    with pytest.warns(RuntimeWarning) as rec:
        tr = SegmentTask().train(cfg, session)
    msgs = [str(w.message) for w in rec]
    assert sum("non-finite loss" in m for m in msgs) == 3
    assert any("restored from the EMA" in m for m in msgs)
    assert tr.skipped_steps == 3
    ck = torch.load(tr.last, weights_only=True)
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert tr.epoch == 1  # training went on after the restore


def _losses(stdout: str) -> list[float]:
    line = [x for x in stdout.splitlines() if x.startswith("LOSSES")][-1]
    return [float(v) for v in line[len("LOSSES"):].strip(" []").split(",")]


def test_sigkill_mid_epoch_then_resume_finishes_bitwise(shapes_data, tmp_path):
    """Killed in epoch 2 and resumed, with 2 DataLoader worker processes (which the restart replaces):
    all 3 epochs finish in the same folder and the last epoch's losses and the final weights equal
    those of a run that was never interrupted -- one that loaded its data in the main process, since
    the augmented data depend on (seed, epoch, sample) only, not on the workers."""
    env = dict(os.environ, OMP_NUM_THREADS="1", WORKERS="2")
    cmd = [sys.executable, str(SCRIPT), shapes_data, str(tmp_path), "3"]
    r = subprocess.run(cmd + ["1"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == -9, r.stderr[-2000:]
    last = tmp_path / "r" / "weights" / "last.pt"
    ck = torch.load(last, weights_only=True)
    assert ck["epoch"] == 0 and ck["optimizer"] is not None  # epoch 1 finished, epoch 2 was killed
    r = subprocess.run(cmd + ["-", str(last)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "r" / "results.csv")))
    assert [int(x["epoch"]) for x in rows] == [1, 2, 3]
    resumed = torch.load(last, weights_only=True)
    assert resumed["epoch"] == -1
    assert not list((tmp_path / "r" / "weights").glob(".*.tmp"))

    ref_dir = tmp_path / "uninterrupted"
    u = subprocess.run([sys.executable, str(SCRIPT), shapes_data, str(ref_dir), "3"], env={**env, "WORKERS": "0"},
                       capture_output=True, text=True, timeout=600)
    assert u.returncode == 0, u.stderr[-3000:]
    assert _losses(r.stdout) == _losses(u.stdout)
    ref = torch.load(ref_dir / "r" / "weights" / "last.pt", weights_only=True)
    a, b = resumed["model"], ref["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ddp_two_cpu_processes_gloo(shapes_data, tmp_path):
    """segctl launches 2 gloo processes (SEGCTL_NPROC=2): same weights on both, only rank 0 writes."""
    env = dict(os.environ, SEGCTL_NPROC="2", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "segctl", "segment", "train", "model=yolov8n-seg.yaml", f"data={shapes_data}",
           "epochs=1", "imgsz=64", "batch=4", "workers=0", "device=cpu", f"project={tmp_path}", "name=d",
           "val=False", "plots=False"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    assert "weights identical on all 2 ranks" in r.stdout + r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert (tmp_path / "d" / "weights" / "last.pt").exists()
    assert len(list(csv.DictReader(open(tmp_path / "d" / "results.csv")))) == 1


def test_torchrun_max_restarts_resumes_the_same_run(shapes_data, tmp_path):
    """``torchrun --max-restarts=1``: rank 1 is SIGKILLed mid-epoch 2 in the first attempt; torchrun
    restarts both workers with the same command and segctl resumes the run from its last.pt, in the
    same folder, instead of starting again at epoch 1."""
    env = dict(os.environ, OMP_NUM_THREADS="1", TORCH_DISABLE_SHARE_RDZV_TCP_STORE="1")
    env.pop("SEGCTL_NPROC", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "--max-restarts=1",
           str(SCRIPT.with_name("_elastic_worker.py")),
           "segment", "train", "model=yolov8n-seg.yaml", f"data={shapes_data}", "epochs=3", "imgsz=64", "batch=4",
           "workers=0", "device=cpu", f"project={tmp_path}", "name=e", "val=False", "plots=False"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "torchrun restart 1: resuming from" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e"]  # no second run folder
    rows = list(csv.DictReader(open(tmp_path / "e" / "results.csv")))
    assert [int(x["epoch"]) for x in rows] == [1, 2, 3]
    assert torch.load(tmp_path / "e" / "weights" / "last.pt", weights_only=True)["epoch"] == -1
    assert "weights identical on all 2 ranks" in out


def test_disk_full_mid_run_stops_cleanly_and_keeps_last_checkpoint(shapes_data, tmp_path):
    """A real ENOSPC: the run lives on a 200 MB tmpfs that is filled during epoch 2. The run stops
    with a clear one-line error (no traceback), exit code 1; epoch 1's last.pt and results.csv are
    intact, no temporary files are left, and the run resumes once space is freed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    runner = tmpfs_runner(mnt, 200)
    if runner is None:
        pytest.skip("unprivileged mount namespaces are not allowed here (unshare failed); "
                    "test_atomic_save_keeps_previous_file_and_cleans_temps covers the save itself")
    worker = str(SCRIPT.with_name("_disk_full_worker.py"))
    train = ["segment", "train", "model=yolov8n-seg.yaml", f"data={shapes_data}", "epochs=3", "imgsz=64",
             "batch=4", "workers=0", "device=cpu", f"project={mnt}", "name=r", "val=False", "plots=False"]
    check = ("import sys, torch, csv, pathlib; r = pathlib.Path(sys.argv[1]) / 'r'; "
             "print('EPOCH', torch.load(r / 'weights' / 'last.pt', weights_only=True)['epoch']); "
             "print('ROWS', len(list(csv.DictReader(open(r / 'results.csv'))))); "
             "print('TEMPS', sorted(p.name for p in r.rglob('*') if p.name.startswith('.')))")
    resume = [sys.executable, "-m", "segctl", "segment", "train", f"resume={mnt}/r/weights/last.pt"]
    # one namespace for the whole story: the tmpfs vanishes with it
    script = " && ".join([
        f"DISK_FULL_DIR={mnt} {sys.executable} {worker} {' '.join(train)}; echo RC=$?",
        f"{sys.executable} -c \"{check}\" {mnt}",
        f"rm {mnt}/ballast",
        f"{' '.join(resume)} > /dev/null 2>&1; echo RESUMED=$?",
        f"{sys.executable} -c \"{check}\" {mnt}",
    ])
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    r = subprocess.run(runner + ["sh", "-c", script], env=env, capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert "RC=1" in out, out[-4000:]
    assert "No space left on device" in out and "Traceback" not in out, out[-4000:]
    assert "the previous file is intact" in out
    first, after = out.split("RESUMED=")
    assert "EPOCH 0" in first and "ROWS 1" in first and "TEMPS []" in first, first[-3000:]
    assert after.startswith("0") and "EPOCH -1" in after and "ROWS 3" in after, out[-3000:]


def test_val_loss_leaves_the_model_untouched(tiny_seg_model):
    """The val-loss pass re-runs only the head with its own training flag: no BatchNorm statistics
    change, the hook is removed, and the items equal the loss on a training-mode forward's outputs
    (BatchNorm aside: compared with the head in eval mode for its children)."""
    from segctl_tasks_segment.loss import SegmentationLoss
    from segctl_tasks_segment.validator import _val_loss_fn

    model = tiny_seg_model
    crit = SegmentationLoss(model, hyp={"box": 7.5, "cls": 0.5, "dfl": 1.5, "overlap_mask": True})
    batch = {"batch_idx": torch.tensor([0.0, 1.0]), "cls": torch.tensor([[0.0], [2.0]]),
             "bboxes": torch.tensor([[0.5, 0.5, 0.4, 0.3], [0.3, 0.6, 0.2, 0.2]]),
             "masks": torch.zeros(2, 16, 16)}
    batch["masks"][0, 5:11, 4:12] = 1
    batch["masks"][1, 8:12, 3:7] = 1
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    fn = _val_loss_fn(model, crit)
    with torch.no_grad():
        model(torch.rand(2, 3, 64, 64))
        items = fn(batch)
    fn.remove()
    assert items.shape == (4,) and torch.isfinite(items).all() and (items > 0).all()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in stats.items())
    assert not model.head._forward_pre_hooks and not model.head.training
