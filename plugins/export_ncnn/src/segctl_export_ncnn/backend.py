"""The ncnn backend: runs a ``_ncnn_model/`` folder with the ncnn Python package on the CPU.

Why a loop over the batch: ncnn tensors (``Mat``) have no batch axis, so each image is a separate
extraction; the outputs are stacked back to ``(pred [B, 4+nc+32, N], proto [B, 32, H/4, W/4])``.
The input size must be the exported ``imgsz`` (the anchor grid is baked into the graph): other
sizes are refused with a clear error rather than returning wrong boxes.
fp16 storage and arithmetic are enabled only for ``half`` artifacts on ARM CPUs: ncnn would otherwise
pick them by itself and an fp32 artifact would no longer match what was verified, and on x86 they
are emulated — a yolov8n-seg at 320 px took 1.1 s per image with them against 37 ms without. The
fp16 weights of a ``half`` artifact are widened to fp32 at load time there.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

import ncnn
import numpy as np
import torch

from segctl.errors import CheckpointError, UsageError
from segctl.export.backends import Backend
from segctl.export.metadata import read_yaml_metadata

from .exporter import BIN, PARAM


class NcnnBackend(Backend):
    def __init__(self, path, device="cpu", session=None):
        folder = Path(path)
        folder = folder if folder.is_dir() else folder.parent
        self.path, self.device = folder, str(device)
        for name in (PARAM, BIN):
            if not (folder / name).is_file():
                raise CheckpointError(f"{folder}: {name} is missing; not an ncnn model folder",
                                      hint="re-export it with: segctl export format=ncnn model=...")
        meta = read_yaml_metadata(folder)
        meta.setdefault("format", "ncnn")
        meta["nms"] = False
        self.metadata = meta
        self.net = ncnn.Net()
        opt = self.net.opt
        opt.use_vulkan_compute = False
        half = bool(meta.get("half")) and platform.machine().lower() in ("arm64", "aarch64", "armv7l", "armv8l")
        opt.use_fp16_packed = opt.use_fp16_storage = opt.use_fp16_arithmetic = half
        opt.num_threads = int(os.environ.get("SEGCTL_NCNN_THREADS", "0")) or max(1, (os.cpu_count() or 1))
        if self.net.load_param(str(folder / PARAM)) != 0 or self.net.load_model(str(folder / BIN)) != 0:
            raise CheckpointError(f"{folder}: ncnn could not load {PARAM}/{BIN}")
        self.input_name = self.net.input_names()[0]
        self.output_names = sorted(self.net.output_names())  # out0 (predictions), out1 (prototypes)

    def __call__(self, x):
        dev = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
        if list(arr.shape[2:]) != list(self.imgsz):
            raise UsageError(f"{self.path}: ncnn artifact takes {self.imgsz[0]}x{self.imgsz[1]} inputs, got "
                             f"{arr.shape[2]}x{arr.shape[3]}", hint=f"use imgsz={self.imgsz[0]} (exported size)")
        outs: list[list[np.ndarray]] = [[] for _ in self.output_names]
        for img in arr:
            ex = self.net.create_extractor()
            ex.input(self.input_name, ncnn.Mat(np.ascontiguousarray(img)))
            for i, name in enumerate(self.output_names):
                ret, mat = ex.extract(name)
                if ret != 0:
                    raise RuntimeError(f"ncnn failed to compute output {name} (code {ret})")
                outs[i].append(np.array(mat))
        pred, proto = (torch.from_numpy(np.stack(o)).to(dev) for o in outs)
        return pred.float(), proto.float()

    def native(self, x):
        arr = np.ascontiguousarray(x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else x, np.float32)

        def run():
            outs = []
            for img in arr:
                ex = self.net.create_extractor()
                ex.input(self.input_name, ncnn.Mat(img))
                outs.append([ex.extract(name)[1] for name in self.output_names])
            return outs

        return run
