"""Calibration image selection shared by the int8 exporters (OpenVINO, TensorRT, TFLite)."""
from __future__ import annotations

import logging

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from segctl.errors import DataError, UsageError  # noqa: E402
from segctl.export.calib import calibration_files, calibration_images, letterbox  # noqa: E402


@pytest.fixture
def folder(tmp_path):
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"{i:02d}.png"), np.full((20, 40, 3), i * 20, np.uint8))
    return tmp_path


def test_files_are_spread_over_the_list(folder):
    names = [f[-6:-4] for f in calibration_files(str(folder), None, fraction=0.3)]
    assert names == ["00", "03", "06"]
    assert len(calibration_files(str(folder), None, fraction=1.0, limit=4)) == 4


def test_images_are_letterboxed_nchw_and_unreadable_ones_skipped(folder, caplog):
    (folder / "05.png").write_bytes(b"not a png")
    with caplog.at_level(logging.WARNING, logger="segctl.export"):
        batch = calibration_images(str(folder), None, [64, 96])
    assert len(batch) == 9 and all(b.shape == (1, 3, 64, 96) and b.dtype == np.float32 for b in batch)
    assert "05.png" in caplog.text
    boxed = letterbox(np.zeros((20, 40, 3), np.uint8), (64, 64))
    assert boxed.shape == (64, 64, 3) and boxed[0, 0, 0] == 114 and boxed[32, 32, 0] == 0


def test_missing_or_unusable_data_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="data="):
        calibration_images(None, None, [64, 64])
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="not a folder of images"):
        calibration_images(str(tmp_path), None, [64, 64])
