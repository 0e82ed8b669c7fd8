"""The OpenVINO backend: runs an ``_openvino_model/`` folder with the OpenVINO runtime on CPU.

Why CPU only: OpenVINO's ``GPU`` device means an Intel GPU, not the CUDA device segctl's
``device=`` names; on any device string the model runs on the CPU and the outputs are returned as
torch tensors on the input's device, so the predictor and validator need no special case.
Inference precision is pinned to fp32: on CPUs with bf16 support OpenVINO would otherwise pick
bf16 by itself and the artifact would silently not match what was verified.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import openvino as ov
import torch

from segctl.errors import CheckpointError
from segctl.export.backends import Backend
from segctl.export.e2e import OUTPUT_NAMES
from segctl.export.metadata import read_yaml_metadata


def find_xml(folder: Path) -> Path:
    xmls = sorted(folder.glob("*.xml"))
    if len(xmls) != 1:
        raise CheckpointError(f"{folder}: expected one OpenVINO .xml model in the folder, found {len(xmls)}",
                              hint="re-export it with: segctl export format=openvino model=...")
    if not xmls[0].with_suffix(".bin").is_file():
        raise CheckpointError(f"{xmls[0]}: its weights file {xmls[0].with_suffix('.bin').name} is missing")
    return xmls[0]


class OpenVinoBackend(Backend):
    def __init__(self, path, device="cpu", session=None):
        self.path = Path(path)
        self.device = str(device)
        folder = self.path if self.path.is_dir() else self.path.parent
        xml = self.path if self.path.suffix == ".xml" else find_xml(folder)
        core = ov.Core()
        threads = int(os.environ.get("SEGCTL_OV_THREADS", "0"))
        config = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            model = core.read_model(str(xml))
        except RuntimeError as e:
            raise CheckpointError(f"{xml}: not a readable OpenVINO model ({str(e).splitlines()[0]})") from e
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.output_names = [o.get_any_name() for o in self.compiled.outputs]
        meta = read_yaml_metadata(folder)
        meta.setdefault("format", "openvino")
        meta.setdefault("nms", self.output_names == list(OUTPUT_NAMES))
        self.metadata = meta

    def __call__(self, x):
        dev = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
        result = self.request.infer({0: np.ascontiguousarray(arr)})
        tensors = [torch.from_numpy(np.array(result[port])).to(dev) for port in self.compiled.outputs]
        if self.nms:
            return {k: (t.float() if t.is_floating_point() else t) for k, t in zip(self.output_names, tensors)}
        return tensors[0].float(), tensors[1].float()

    def native(self, x):
        arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
        feed = {0: np.ascontiguousarray(arr)}
        return lambda: self.request.infer(feed)
