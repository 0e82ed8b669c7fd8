"""The ONNX Runtime backend: CPU, or the CUDA provider when the device asks for it and it exists.

Reads segctl's metadata from ``metadata_props`` (and the reference implementation's, whose values
are Python-literal strings), checks external-data locations before creating a session, and returns
torch tensors on the input's device so the predictor and validator use one code path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from segctl.errors import CheckpointError
from segctl.export.backends import Backend
from segctl.export.e2e import OUTPUT_NAMES
from segctl.export.metadata import from_props

from .external import check_external_data


def providers_for(device: str) -> list[str]:
    available = ort.get_available_providers()
    if str(device).startswith("cuda") and "CUDAExecutionProvider" in available:
        index = str(device).partition(":")[2] or "0"
        return [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxBackend(Backend):
    def __init__(self, path, device="cpu", session=None):
        self.path = str(path)
        self.device = str(device)
        try:
            proto = onnx.load(self.path, load_external_data=False)
        except Exception as e:  # noqa: BLE001 - any parse failure is an unreadable model file
            raise CheckpointError(f"{self.path}: not a readable ONNX model ({type(e).__name__}: {e})") from e
        check_external_data(self.path, proto)
        del proto
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(self.path, sess_options=options, providers=providers_for(self.device))
        props = dict(self.session.get_modelmeta().custom_metadata_map)
        meta = from_props(props, self.path)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if "float16" in inp.type else np.float32
        self.output_names = [o.name for o in self.session.get_outputs()]
        meta.setdefault("half", self.input_dtype == np.float16)
        meta.setdefault("nms", self.output_names == list(OUTPUT_NAMES))
        meta.setdefault("format", "onnx")
        if isinstance(meta.get("stride"), (int, float)) and "strides" not in meta:
            meta["strides"] = [meta["stride"] / 4, meta["stride"] / 2, float(meta["stride"])]
        self.metadata = meta

    @property
    def file(self) -> Path:
        return Path(self.path)

    def __call__(self, x):
        dev = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        outs = self.session.run(self.output_names, {self.input_name: np.ascontiguousarray(arr, dtype=self.input_dtype)})
        tensors = [torch.from_numpy(np.asarray(o)).to(dev) for o in outs]
        if self.nms:
            return {k: (t.float() if t.is_floating_point() else t) for k, t in zip(self.output_names, tensors)}
        return tensors[0].float(), tensors[1].float()

    def native(self, x):
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        feed = {self.input_name: np.ascontiguousarray(arr, dtype=self.input_dtype)}
        return lambda: self.session.run(self.output_names, feed)
