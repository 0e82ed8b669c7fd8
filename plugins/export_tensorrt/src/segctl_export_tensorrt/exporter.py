"""The TensorRT exporter: ONNX artifact → serialised engine built for this machine's GPU.

Why from ONNX: TensorRT's ONNX parser is its supported import route, and the chain's ONNX step is
already verified against PyTorch (same I/O names and layouts, ``nms=True`` included). Options:

- ``half=True``: the ONNX step is fp16 (so the engine's I/O are fp16; the backend casts); on
  TensorRT 10 the FP16 builder flag is set too, TensorRT 11 follows the graph's types.
- ``int8=True`` (TensorRT 10 only; 11 removed implicit quantisation): the INT8 flag with an entropy
  calibrator fed letterboxed images from ``data=`` (see :mod:`.calib`); layers TensorRT cannot run
  in int8 fall back to fp16/fp32.
- ``dynamic=True``: one optimisation profile, batch 1..``batch`` and sides 32..``imgsz`` (the
  kernels are tuned for ``imgsz`` at batch ``max(1, batch // 2)``).
- ``workspace``: the builder's workspace memory pool in GiB (TensorRT's default when unset).

An engine only runs on the GPU model and TensorRT version that built it; the metadata records both.
"""
from __future__ import annotations

from pathlib import Path

from segctl.errors import ExportError, UsageError
from segctl.export.base import Exporter

from .engine_file import replace_metadata, write_engine
from .plugin import OPTIONS


def _errors(parser) -> str:
    return "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "unknown error"


def cuda_index(device: str) -> int:
    text = str(device or "0").replace("cuda", "").strip(":") or "0"
    if text == "cpu":
        return 0
    if not text.isdigit():
        raise UsageError(f"export option device={device!r} is not a CUDA device", hint="use device=0 or device=cuda:0")
    return int(text)


def make_calibrator(trt, images: list, batch: int, device_index: int, cache: Path):
    """An ``IInt8EntropyCalibrator2`` feeding ``images`` (float32 NCHW arrays) from GPU memory."""
    import numpy as np
    import torch

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.batches = [np.concatenate(images[i:i + batch]) for i in range(0, len(images) - batch + 1, batch)]
            self.index = 0
            self.current = None

        def get_batch_size(self):
            return batch

        def get_batch(self, names):
            if self.index >= len(self.batches):
                return None
            self.current = torch.from_numpy(self.batches[self.index]).to(f"cuda:{device_index}").contiguous()
            self.index += 1
            return [int(self.current.data_ptr())]

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data):
            cache.write_bytes(bytes(data))

    return Calibrator()


def trt_major(trt) -> int:
    return int(str(trt.__version__).split(".")[0])


def network_flags(trt) -> int:
    """Explicit batch is the only mode from TensorRT 10; 11 builds strongly typed networks, so the
    precision follows the ONNX graph (fp16 when the ONNX step was exported with half=True)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return (1 << int(flag)) if trt_major(trt) >= 11 and flag is not None else 0


def set_precision(trt, builder, config, args: dict, profile, calibrator) -> None:
    """TensorRT 10: the FP16 / INT8 builder flags (weak typing) and the calibrator. TensorRT 11
    removed them: half comes from the fp16 ONNX graph, int8 was refused earlier."""
    if trt_major(trt) >= 11:
        return
    if args.get("half") or calibrator is not None:
        fast = getattr(builder, "platform_has_fast_fp16", True)
        if args.get("half") and not fast:
            raise ExportError("this GPU has no fast fp16 support; TensorRT half=True would be slower, not faster")
        config.set_flag(trt.BuilderFlag.FP16)
    if calibrator is not None:
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        if profile is not None:
            config.set_calibration_profile(profile)


class TensorRTExporter(Exporter):
    """``.engine`` files: segctl metadata header + serialised TensorRT engine."""

    name = "engine"
    suffix = ".engine"
    options = OPTIONS
    after = ("onnx",)
    backend = "engine"
    tolerance_int8 = {"rtol": 0.1, "atol": 4.0, "iou": 0.8}

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        import tensorrt as trt
        import torch

        if not torch.cuda.is_available():
            raise ExportError("TensorRT export needs a CUDA device, and torch sees none",
                              hint="run the export on a machine with an NVIDIA GPU")
        index = cuda_index(args.get("device"))
        torch.cuda.set_device(index)
        logger = trt.Logger(trt.Logger.WARNING)
        builder = trt.Builder(logger)
        network = builder.create_network(network_flags(trt))
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(deps["onnx"])):
            raise ExportError(f"TensorRT cannot parse {deps['onnx']}: {_errors(parser)}",
                              hint="try another opset=... for the ONNX step")
        config = builder.create_builder_config()
        if args.get("workspace"):
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(float(args["workspace"]) * (1 << 30)))
        h, w = args["imgsz"]
        batch = int(args.get("batch", 1))
        profile = None
        if args.get("dynamic"):
            profile = builder.create_optimization_profile()
            for i in range(network.num_inputs):
                inp = network.get_input(i)
                profile.set_shape(inp.name, (1, 3, 32, 32), (max(1, batch // 2), 3, h, w), (batch, 3, h, w))
            config.add_optimization_profile(profile)
        set_precision(trt, builder, config, args, profile, self._calibrator(trt, args, batch, index, output))
        serialized = builder.build_serialized_network(network, config)
        output.with_suffix(".cache").unlink(missing_ok=True)
        if serialized is None:
            raise ExportError(f"TensorRT could not build an engine from {deps['onnx']}",
                              hint="run with --debug and check the TensorRT log above (workspace=... may be too small)")
        metadata["tensorrt"] = {"version": trt.__version__, "gpu": torch.cuda.get_device_name(index)}
        write_engine(output, metadata, bytes(serialized))
        return output

    def _calibrator(self, trt, args: dict, batch: int, index: int, output: Path):
        if not args.get("int8"):
            return None
        if trt_major(trt) >= 11:
            raise UsageError(f"TensorRT {trt.__version__} has no int8 calibration (only explicitly quantised Q/DQ graphs)",
                             hint="use TensorRT 10.x for int8=True, or export fp32/half")
        from segctl.export.calib import calibration_images

        images = calibration_images(args.get("data"), self.session, args["imgsz"], args.get("fraction", 1.0))
        if len(images) < batch:
            raise UsageError(f"int8 calibration needs at least batch={batch} images, data= gave {len(images)}")
        return make_calibrator(trt, images, batch, index, output.with_suffix(".cache"))

    def write_metadata(self, path: Path, metadata: dict) -> None:
        replace_metadata(path, metadata)
