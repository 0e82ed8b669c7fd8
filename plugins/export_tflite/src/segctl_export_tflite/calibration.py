"""Calibration batches for TFLite's ``representative_dataset`` (``int8=True``).

The images themselves come from the core's :mod:`segctl.export.calib` (the same selection and
letterboxing as OpenVINO and TensorRT); this module only shapes them the way the TFLite converter
wants them: a generator of ``[NHWC float32 0..1 batch]`` lists. The dataset's ``train`` split is
preferred here (``val`` when there is none): the measured int8 figures in
docs/export-tensorflow.md were calibrated on it.
"""
from __future__ import annotations

import numpy as np

from segctl.errors import DataError, UsageError
from segctl.export.calib import calibration_files, read_letterboxed


def calibration_batches(args: dict, session):
    """``(generator factory, number of images)`` for TFLite's ``representative_dataset``."""
    if not args.get("data"):
        raise UsageError("int8=True needs calibration images: pass data=<dataset.yaml>",
                         hint="e.g. segctl export format=tflite int8=True data=coco8-seg.yaml fraction=0.5")
    files = calibration_files(str(args["data"]), session, float(args.get("fraction") or 1.0),
                              prefer=("train", "val"))
    images = [img for img in (read_letterboxed(f, args["imgsz"]) for f in files) if img is not None]
    if not images:
        raise DataError(f"calibration data {args['data']}: none of {len(files)} images could be read",
                        hint="check the image files")
    batch = int(args.get("batch", 1))

    def gen():
        for i in range(0, len(images) - batch + 1 if len(images) >= batch else 1, batch):
            chunk = (images[i:i + batch] + images[:batch])[:batch]
            yield [np.stack(chunk).astype(np.float32) / 255.0]

    return gen, len(images)
