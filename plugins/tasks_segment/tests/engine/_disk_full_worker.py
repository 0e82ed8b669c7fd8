"""For test_train.py: ``segctl`` itself, except that in the first batch of epoch 2 the file system
holding the run (``DISK_FULL_DIR``) is filled to the last byte with a ballast file. The end of that
epoch then meets a real ``ENOSPC`` when it writes results.csv and last.pt."""
import errno
import os
import sys

from segctl.cli.main import main
from segctl_tasks_segment.trainer import SegmentTrainer


def fill(directory: str) -> None:
    chunk = b"\0" * (1 << 20)
    with open(os.path.join(directory, "ballast"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        while chunk:  # the last partial megabyte, so not even a small file fits
            try:
                f.write(chunk)
            except OSError:
                chunk = chunk[: len(chunk) // 2]


def hook(self, loss, epoch, i):
    if epoch == 1 and i == 0 and not os.path.exists(os.path.join(os.environ["DISK_FULL_DIR"], "ballast")):
        fill(os.environ["DISK_FULL_DIR"])
    return loss


SegmentTrainer._loss_hook = hook
sys.exit(main(sys.argv[1:]))
