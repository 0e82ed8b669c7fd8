"""SegmentDataset behaviour: rect batches, read failures, caches, DataLoader, plots."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from segctl.errors import DataError
from segctl_tasks_segment.data import SegmentDataset, build_dataloader, collate
from segctl_tasks_segment.data.dataset import rect_shapes


def test_rect_shapes_math():
    shapes = np.array([[100, 200], [200, 100], [150, 100], [50, 200]], float)
    order, bs = rect_shapes(shapes, 2, 64, 32, 0.5)
    assert order.tolist() == [3, 0, 2, 1]  # by h/w
    assert bs.tolist() == [[64, 96], [96, 64]]  # ceil(0.5*64/32+0.5)*32 = 64; ceil(2.5)*32 = 96; 1/1.5 -> 64


def test_rect_batches(maker, shapes):
    sizes = [(40, 80), (80, 40), (60, 60), (30, 90), (90, 45)]
    recs = [maker.image(f"r{k}", h, w, [shapes["triangle"]]) for k, (h, w) in enumerate(sizes)]
    ds = SegmentDataset(maker.index(recs), 96, augment=False, rect=True, batch_size=2, pad=0.5)
    loader = build_dataloader(ds, 2, 0, shuffle=True)  # shuffle is refused for rect
    seen = []
    for b in loader:
        h, w = b["img"].shape[2:]
        assert h % 32 == 0 and w % 32 == 0
        ars = [recs[i]["shape"][0] / recs[i]["shape"][1] for i in b["index"]]
        seen += ars
        for (gain_h, gain_w), (left, top) in b["ratio_pad"]:
            assert left >= 0 and top >= 0
        # boxes mapped back through ratio_pad land on the original polygon box
        for k, i in enumerate(b["index"]):
            (g, _), (left, top) = b["ratio_pad"][k]
            bb = b["bboxes"][b["batch_idx"] == k][0].numpy() * (w, h, w, h)
            h0, w0 = recs[i]["shape"]
            cx0 = (bb[0] - left) / g / w0
            assert cx0 == pytest.approx(recs[i]["bboxes"][0][0], abs=0.03)
    assert seen == sorted(seen)


def test_read_failure_mid_epoch(maker, shapes, caplog):
    recs = [maker.image(f"i{k}", 64, 64, [shapes["square"]]) for k in range(3)]
    ds = SegmentDataset(maker.index(recs), 64, augment=False)
    import os
    os.remove(recs[1]["im_file"])
    with caplog.at_level(logging.WARNING, logger="segctl.data"):
        s = ds[1]
    assert s["index"] == 2 and ds.read_failures == 1
    assert "i1.png" in caplog.text
    # corrupt after the scan
    with open(recs[0]["im_file"], "wb") as f:
        f.write(b"garbage")
    assert ds[0]["index"] == 2 and ds.read_failures == 2
    os.remove(recs[2]["im_file"])
    with pytest.raises(DataError, match="could not be read"):
        ds[2]


class _FlagDataset(SegmentDataset):
    """Reports, from inside the worker process, whether mosaic is on (in the ``index`` field)."""

    def build(self, pos):
        out = super().build(pos)
        out["index"] = int(self.mosaic_enabled)
        return out


def test_close_mosaic_reaches_persistent_workers(maker, shapes):
    recs = [maker.image(f"i{k}", 64, 64, [shapes["square"]]) for k in range(4)]
    ds = _FlagDataset(maker.index(recs), 64, augment=True, hyp={"mosaic": 1.0})
    assert ds.mosaic_enabled
    loader = build_dataloader(ds, 2, 1, shuffle=True, seed=1)
    assert loader.persistent_workers and loader.num_workers == 1
    assert next(iter(loader))["index"] == [1, 1]
    ds.close_mosaic()
    assert not ds.mosaic_enabled
    assert next(iter(loader))["index"] == [0, 0]


def test_dataloader_seeded_and_distributed(maker, shapes):
    recs = [maker.image(f"i{k}", 64, 64, [shapes["square"]]) for k in range(4)]
    ds = SegmentDataset(maker.index(recs), 64, augment=False)
    a = [b["index"] for b in build_dataloader(ds, 2, 0, shuffle=True, seed=3)]
    b = [b["index"] for b in build_dataloader(ds, 2, 0, shuffle=True, seed=3)]
    assert a == b
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed unavailable")
    import torch.utils.data.distributed as dist_data

    ds_sampler = dist_data.DistributedSampler(ds, num_replicas=2, rank=0)
    assert len(ds_sampler) == 2


def test_ram_and_disk_cache(maker, shapes):
    recs = [maker.image(f"i{k}", 50, 100, [shapes["square"]]) for k in range(2)]
    ram = SegmentDataset(maker.index(recs), 64, augment=False, cache="ram")
    assert all(im is not None for im in ram._ims)
    disk = SegmentDataset(maker.index(recs), 64, augment=False, cache="disk")
    first = disk[0]["img"]
    npy = disk._npy_path(0)
    assert npy.is_file()
    assert torch.equal(disk[0]["img"], first) and torch.equal(ram[0]["img"], first)
    with pytest.raises(DataError, match="cache"):
        SegmentDataset(maker.index(recs), 64, cache="gpu")


def test_background_image_batches(maker, shapes):
    recs = [maker.image("bg", 64, 64, []), maker.image("a", 64, 64, [shapes["square"]])]
    for overlap in (True, False):
        for augment in (True, False):
            ds = SegmentDataset(maker.index(recs), 64, augment=augment, overlap=overlap)
            b = collate([ds[0], ds[1]])
            assert b["masks"].shape[-2:] == (16, 16) and b["cls"].shape[1] == 1
            if not augment:  # (mosaic brings other images into sample 0)
                assert (b["batch_idx"] == 0).sum() == 0


def test_empty_index_is_error(maker):
    with pytest.raises(DataError, match="no usable images"):
        SegmentDataset(maker.index([]), 64)


def test_plots(maker, shapes, tmp_path):
    from segctl_tasks_segment.data.plots import plot_batch, plot_labels

    recs = [maker.image(f"i{k}", 64, 64, [shapes["square"], shapes["triangle"]], cls=[0, 1]) for k in range(4)]
    idx = maker.index(recs)
    ds = SegmentDataset(idx, 64, augment=True)
    np.random.seed(0)
    batch = collate([ds[i] for i in range(4)])
    p = plot_batch(batch, idx.names, tmp_path / "train_batch0.jpg")
    q = plot_labels(idx, idx.names, tmp_path / "labels.jpg")
    import cv2
    im = cv2.imread(str(p))
    assert im.shape == (128, 128, 3) and im.std() > 10
    assert cv2.imread(str(q)).shape[1] > 500
