"""A torchrun worker for test_train.py: ``segctl`` itself, except that in torchrun's first attempt
rank 1 SIGKILLs itself in the second batch of epoch 2 (0-based epoch 1) -- a worker dying mid-epoch
after ``last.pt`` of epoch 1 was written. torchrun (``--max-restarts``) then restarts both workers
with the same command line, which segctl must turn into a resume of the same run."""
import os
import signal
import sys

from segctl.cli.main import main
from segctl_tasks_segment.trainer import SegmentTrainer

if os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0" and os.environ.get("RANK") == "1":
    def hook(self, loss, epoch, i):
        if epoch == 1 and i == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return loss
    SegmentTrainer._loss_hook = hook
sys.exit(main(sys.argv[1:]))
