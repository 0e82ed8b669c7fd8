"""segctl makes torch's waiting threads sleep (OMP_WAIT_POLICY=PASSIVE) when it loads torch itself,
never overriding the user's setting and never on a bare ``import segctl``."""
import os
import subprocess
import sys

import pytest

CODE = {
    "model": "from segctl import YOLO; YOLO('yolov8n-seg.yaml'); import os; print(os.environ.get('OMP_WAIT_POLICY'))",
    "import only": "import segctl, os; print(os.environ.get('OMP_WAIT_POLICY'))",
    "torch first": "import torch; from segctl import YOLO; YOLO('yolov8n-seg.yaml'); import os; "
                   "print(os.environ.get('OMP_WAIT_POLICY'))",
}


@pytest.mark.parametrize("case,user,expected", [
    ("model", None, "PASSIVE"), ("model", "ACTIVE", "ACTIVE"), ("import only", None, "None"), ("torch first", None, "None"),
])
def test_wait_policy(case, user, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if user:
        env["OMP_WAIT_POLICY"] = user
    out = subprocess.run([sys.executable, "-c", CODE[case]], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == expected
