"""Running a web model in TensorFlow.js itself (Node.js, ``js/run_model.cjs``), for verification.

Why: the Python backend rebuilds the graph in TensorFlow; checking the same folder in the real
TF.js runtime catches what only the browser side would see (an op TF.js lacks, a weight layout it
reads differently). Needs ``node`` and the ``@tensorflow/tfjs`` npm package (pure JavaScript, no
native binary); ``make install-node-tfjs`` puts it in ``.node-tfjs/node_modules`` and ``make test``
points ``SEGCTL_TFJS_NODE_MODULES`` there.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from segctl.errors import ExportError, MissingDependencyError

SCRIPT = Path(__file__).with_name("js") / "run_model.cjs"
NPM_INSTALL = ("npm install --prefix .node-tfjs @tensorflow/tfjs@4.22.0  # (make install-node-tfjs) then "
               "export SEGCTL_TFJS_NODE_MODULES=$PWD/.node-tfjs/node_modules")


def node_modules() -> Path | None:
    """The ``node_modules`` folder holding ``@tensorflow/tfjs``: ``$SEGCTL_TFJS_NODE_MODULES`` or None."""
    env = os.environ.get("SEGCTL_TFJS_NODE_MODULES")
    path = Path(env) if env else None
    return path if path is not None and (path / "@tensorflow" / "tfjs").is_dir() else None


def run_in_node(model_dir: Path, x_nhwc: np.ndarray, modules: Path | None = None, timeout: float = 600) -> dict:
    """``{output key: array}`` from running ``model_dir`` on ``x_nhwc`` (float32 NHWC) in TF.js."""
    node = shutil.which("node")
    modules = modules or node_modules()
    if node is None or modules is None:
        raise MissingDependencyError("running a web model in TensorFlow.js needs node and @tensorflow/tfjs",
                                     hint=NPM_INSTALL)
    with tempfile.TemporaryDirectory(prefix="segctl-tfjs-") as tmp:
        tmp = Path(tmp)
        np.ascontiguousarray(x_nhwc, dtype="<f4").tofile(tmp / "input.f32")
        proc = subprocess.run([node, str(SCRIPT), str(model_dir), str(tmp / "input.f32"),
                               ",".join(str(d) for d in x_nhwc.shape), str(tmp)],
                              env={**os.environ, "NODE_PATH": str(modules)}, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            raise ExportError(f"TensorFlow.js could not run {model_dir}: {proc.stderr.strip()[-400:]}",
                              hint="the model uses an op TF.js lacks, or the folder is incomplete")
        info = json.loads((tmp / "shapes.json").read_text())
        return {k: np.fromfile(tmp / f"{k}.f32", "<f4").reshape(shape) for k, shape in info["shapes"].items()}

