"""A disk that fills mid-save (100 KB left, not 0): torch.save raises RuntimeError("unexpected pos"),
not OSError. segctl must report a write failure (SegctlError naming the file) and keep the previous
checkpoint intact, on a real small tmpfs (private mount namespace), not a mocked OSError."""
from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = r"""
import os, sys, torch
from pathlib import Path
from segctl.errors import SegctlError
from segctl.nn.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
mnt = Path(sys.argv[1])
path = mnt / "last.pt"
small = {"format": "segctl", "model": {"w": torch.ones(10)}, "epoch": 1}
save_checkpoint(small, path)
filler = mnt / "filler"
with open(filler, "wb") as f:  # fill the 4 MB disk up to about 100 KB free
    free = os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize
    f.write(b"\0" * (free - 100_000))
print("FREE", os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize)
big = {"format": "segctl", "model": {"w": torch.randn(500_000)}, "epoch": 2}
try:
    save_checkpoint(big, path)
    print("SAVED")
except SegctlError as e:
    print("ERROR", type(e).__name__, str(e).splitlines()[0])
print("EPOCH", load_checkpoint(path)["epoch"])
print("TEMPS", sorted(p.name for p in mnt.iterdir() if p.name.startswith(".")))
"""


def test_partial_disk_full_is_a_write_failure_and_keeps_the_previous_file(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
              'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"', str(mnt)]
    try:
        ok = subprocess.run(prefix + ["true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        pytest.skip("unprivileged mount namespaces are not allowed here (unshare failed)")
    out = subprocess.run(prefix + [sys.executable, "-c", CHILD, str(mnt)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert 50_000 < int(lines["FREE"]) < 200_000  # partial, not zero
    assert lines["ERROR"].startswith("SegctlError") and "cannot write checkpoint" in lines["ERROR"], out.stdout
    assert lines["EPOCH"] == "1" and lines["TEMPS"] == "[]", out.stdout
