"""Run by test_train.py in a subprocess: ``python _train_script.py DATA PROJECT EPOCHS [KILL_AT_EPOCH] [RESUME]``.

With KILL_AT_EPOCH the process SIGKILLs itself in the middle of that epoch (0-based), after
``last.pt`` of the previous epoch was written; with RESUME it resumes from that path. ``WORKERS`` in
the environment sets the DataLoader worker count (default 0)."""
import os
import signal
import sys

from segctl.session import Session
from segctl_tasks_segment.schema import OPTIONS
from segctl_tasks_segment.task import SegmentTask
from segctl_tasks_segment.trainer import SegmentTrainer

data, project, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
kill_at = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] != "-" else None
resume = sys.argv[5] if len(sys.argv) > 5 else False
cfg = {o.name: o.default for o in OPTIONS}
cfg.update(task="segment", model="yolov8n-seg.yaml", data=data, epochs=epochs, imgsz=64, batch=4, workers=int(os.environ.get("WORKERS", "0")),
           project=project, name="r", exist_ok=True, plots=False, verbose=False, val=False, resume=resume)
if kill_at is not None:
    def hook(self, loss, epoch, i):
        if epoch == kill_at and i == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return loss
    SegmentTrainer._loss_hook = hook
tr = SegmentTask().train(cfg, Session.create())
print("LOSSES", [round(float(v), 6) for v in tr.tloss])
