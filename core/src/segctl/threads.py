"""How torch's threads wait, set before torch loads.

Why: PyTorch's OpenMP threads spin while they wait for work by default. When other processes use the
cores (a shared server, a CI runner, a video pipeline with a decoder thread), each spinning thread
competes for time slices and every small tensor operation waits for a descheduled partner: measured
on 2 busy cores, a yolov8n-seg forward at 320 took 55-160 ms (first TorchScript calls 2.8 s) instead
of 33-35 ms with ``OMP_WAIT_POLICY=PASSIVE``. OpenMP reads the variable once, when torch's library
loads, so it must be set before ``import torch``; segctl does that (unless the user set it) from the
command line and when a :class:`segctl.Model` is created, never on ``import segctl``.
"""
from __future__ import annotations

import os
import sys


def prefer_sleeping_threads() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set or torch is loaded already; True if it did."""
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
