"""The Paddle backend: runs a ``_paddle_model/`` folder with Paddle Inference on the CPU.

Why CPU only: the paddlepaddle wheel segctl depends on is the CPU build; a GPU build of Paddle is
a different distribution. Outputs come back as torch tensors on the input's device so predict and
val use one code path. Output order follows the graph (``output0`` predictions, ``output1``
prototypes), which X2Paddle keeps.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from paddle import inference

from segctl.errors import CheckpointError
from segctl.export.backends import Backend
from segctl.export.metadata import read_yaml_metadata


def model_files(folder: Path) -> tuple[Path, Path]:
    params = folder / "model.pdiparams"
    for graph in (folder / "model.json", folder / "model.pdmodel"):
        if graph.is_file() and params.is_file():
            return graph, params
    raise CheckpointError(f"{folder}: no Paddle inference model (model.json or model.pdmodel + model.pdiparams)",
                          hint="re-export it with: segctl export format=paddle model=...")


class PaddleBackend(Backend):
    def __init__(self, path, device="cpu", session=None):
        folder = Path(path)
        folder = folder if folder.is_dir() else folder.parent
        self.path, self.device = folder, str(device)
        graph, params = model_files(folder)
        config = inference.Config(str(graph), str(params))
        config.disable_gpu()
        config.disable_glog_info()
        threads = int(os.environ.get("SEGCTL_PADDLE_THREADS", "0")) or max(1, os.cpu_count() or 1)
        config.set_cpu_math_library_num_threads(threads)
        self.predictor = inference.create_predictor(config)
        self.input_name = self.predictor.get_input_names()[0]
        self.output_names = list(self.predictor.get_output_names())
        meta = read_yaml_metadata(folder)
        meta.setdefault("format", "paddle")
        meta["nms"] = False
        self.metadata = meta

    def __call__(self, x):
        dev = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
        handle = self.predictor.get_input_handle(self.input_name)
        handle.reshape(list(arr.shape))
        handle.copy_from_cpu(np.ascontiguousarray(arr))
        self.predictor.run()
        outs = [torch.from_numpy(self.predictor.get_output_handle(n).copy_to_cpu()).to(dev) for n in self.output_names]
        return outs[0].float(), outs[1].float()

    def native(self, x):
        arr = np.ascontiguousarray(x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else x, np.float32)

        def run():
            handle = self.predictor.get_input_handle(self.input_name)
            handle.reshape(list(arr.shape))
            handle.copy_from_cpu(arr)
            self.predictor.run()
            return [self.predictor.get_output_handle(n).copy_to_cpu() for n in self.output_names]

        return run
