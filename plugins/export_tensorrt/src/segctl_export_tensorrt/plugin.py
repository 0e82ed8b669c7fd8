"""Entry point of the TensorRT plugin: registers the ``engine`` exporter and backend.

Why ``requires`` depends on the machine: TensorRT needs two things, the ``tensorrt`` package and an
NVIDIA GPU with its driver. A machine without a GPU must list the format as unavailable ("not
available on this machine: needs CUDA and TensorRT") and ``segctl export format=engine`` must exit 3
before any work, exactly like a missing package. So when no NVIDIA driver is visible, ``CUDA`` is
added to ``requires`` (an import name that never exists, hence always reported missing) and the
description and install hint say why. The probe is a cheap file-system check: nothing heavy (no
torch, no tensorrt, no CUDA initialisation) is imported at registration.
"""
from __future__ import annotations

import ctypes.util
import os
import sys

from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

INSTALL = "pip install tensorrt-cu12==10.13.3.9"
UNAVAILABLE = "not available on this machine: needs CUDA and TensorRT"
#: the pseudo requirement that stands for "an NVIDIA GPU and driver"
CUDA = "CUDA"
DESCRIPTION = "TensorRT engine: fp32, half=True, int8=True (calibrated on data=), dynamic profile, workspace (GiB)"

OPTIONS = ("imgsz", "batch", "half", "int8", "dynamic", "data", "fraction", "workspace", "simplify", "opset",
           "device", "nms", "conf", "iou", "max_det")


def cuda_present() -> bool:
    """True when an NVIDIA driver is visible to this process (no CUDA context is created)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")
    return bool(ctypes.util.find_library("nvcuda") or ctypes.util.find_library("cuda"))


def requirements() -> tuple[str, ...]:
    return ("torch", "tensorrt") if cuda_present() else ("torch", "tensorrt", CUDA)


def availability() -> tuple[str, str]:
    """``(description, install)`` for the specs: the reason first when this machine cannot run it."""
    if cuda_present():
        return DESCRIPTION, INSTALL
    return UNAVAILABLE, f"{UNAVAILABLE} (on a machine with an NVIDIA GPU: {INSTALL})"


@hookimpl
def segctl_register_exporters():
    description, install = availability()
    return [ExporterSpec(
        name="engine", target="segctl_export_tensorrt.exporter:TensorRTExporter",
        requires=requirements(), install=install, aliases=("tensorrt", "trt"),
        suffix=".engine", options=OPTIONS, after=("onnx",), backend="engine", description=description,
    )]


@hookimpl
def segctl_register_backends():
    _, install = availability()
    return [BackendSpec(
        name="engine", target="segctl_export_tensorrt.backend:TensorRTBackend",
        requires=requirements(), install=install, suffixes=(".engine",),
        description="runs .engine files with the TensorRT runtime on a CUDA device",
    )]
