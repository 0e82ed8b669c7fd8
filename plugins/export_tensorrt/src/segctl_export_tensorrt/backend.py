"""The TensorRT backend: deserialises an ``.engine`` file and runs it on a CUDA device.

Why torch tensors for the buffers: they already manage CUDA memory and streams, so no pycuda or
cuda-python dependency is needed; the engine's I/O addresses are the tensors' data pointers and
``execute_async_v3`` runs on torch's current stream. Inputs on the CPU are moved to the GPU and the
outputs come back on the input's device, so the predictor, validator and verification need no
special case. Dynamic engines get the input shape set per call (within the built profile).
"""
from __future__ import annotations

from pathlib import Path

import tensorrt as trt
import torch

from segctl.errors import CheckpointError, UsageError
from segctl.export.backends import Backend
from segctl.export.e2e import OUTPUT_NAMES

from .engine_file import read_engine
from .exporter import cuda_index

_DTYPES = {getattr(trt, k): v for k, v in (("float32", torch.float32), ("float16", torch.float16),
                                             ("int32", torch.int32), ("int64", torch.int64),
                                             ("bool", torch.bool), ("int8", torch.int8)) if hasattr(trt, k)}


class TensorRTBackend(Backend):
    def __init__(self, path, device="cpu", session=None):
        if not torch.cuda.is_available():
            raise UsageError(f"{path}: TensorRT engines run only on a CUDA device, and torch sees none",
                             hint="use the .onnx or _openvino_model artifact on this machine")
        self.path = Path(path)
        self.cuda = torch.device("cuda", cuda_index(device))
        self.device = str(device)
        meta, blob = read_engine(self.path)
        meta.setdefault("format", "engine")
        self.logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self.cuda):
            self.runtime = trt.Runtime(self.logger)
            self.engine = self.runtime.deserialize_cuda_engine(blob)
            if self.engine is None:
                raise CheckpointError(f"{self.path}: TensorRT could not deserialise the engine",
                                      hint=f"engines only run on the GPU and TensorRT version that built them "
                                           f"(built with {meta.get('tensorrt', 'unknown')}); re-export it here")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        meta.setdefault("nms", self.outputs == list(OUTPUT_NAMES))
        meta.setdefault("half", self.engine.get_tensor_dtype(self.inputs[0]) == trt.float16)
        self.metadata = meta

    def __call__(self, x):
        dev = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        x = x if isinstance(x, torch.Tensor) else torch.from_numpy(x)
        name = self.inputs[0]
        x = x.to(self.cuda, _DTYPES[self.engine.get_tensor_dtype(name)]).contiguous()
        with torch.cuda.device(self.cuda):
            if not self.context.set_input_shape(name, tuple(x.shape)):
                raise UsageError(f"{self.path}: input shape {tuple(x.shape)} is outside what the engine was built for",
                                 hint=f"exported imgsz={self.imgsz}, batch={self.metadata.get('batch', 1)}, "
                                      f"dynamic={self.dynamic}")
            self.context.set_tensor_address(name, x.data_ptr())
            outs = []
            for out in self.outputs:
                t = torch.empty(tuple(self.context.get_tensor_shape(out)),
                                dtype=_DTYPES[self.engine.get_tensor_dtype(out)], device=self.cuda)
                self.context.set_tensor_address(out, t.data_ptr())
                outs.append(t)
            stream = torch.cuda.current_stream(self.cuda)
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError(f"{self.path}: TensorRT execution failed")
            stream.synchronize()
        outs = [t.to(dev) for t in outs]
        if self.nms:
            return {k: (t.float() if t.is_floating_point() else t) for k, t in zip(self.outputs, outs)}
        return outs[0].float(), outs[1].float()
