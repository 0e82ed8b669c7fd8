"""Merging rules on hand-made tile pieces (no model): what joins, what stays apart, what the merged
instance looks like."""
import numpy as np

from segctl_tasks_segment.slicing import CropMasks, Instance, merge, zone_overlap


def _piece(obj, tile, tile_id, score, cls=0):
    """The part of the full-image bool mask ``obj`` that ``tile`` sees, as an Instance."""
    x1, y1, x2, y2 = tile
    seen = np.zeros_like(obj)
    seen[y1:y2, x1:x2] = obj[y1:y2, x1:x2]
    ys, xs = np.nonzero(seen)
    rect = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    m = seen[rect[1]:rect[3], rect[0]:rect[2]].copy()
    return Instance(cls, score, rect, m, tile_id, [(tile, m, rect)])


def _disc(h, w, cx, cy, r):
    yy, xx = np.mgrid[:h, :w]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r


def test_pieces_of_an_object_larger_than_the_overlap_join_into_its_whole_mask():
    obj = _disc(200, 300, 150, 100, 60)  # 120 px wide; tiles overlap by 40 px only
    a = _piece(obj, (0, 0, 170, 200), 0, 0.9)
    b = _piece(obj, (130, 0, 300, 200), 1, 0.6)
    assert zone_overlap(a.tiles[0], b.tiles[0]) > 0.99  # identical where both tiles look
    (m,) = merge([b, a])
    assert m.score == 0.9
    full = CropMasks([m], (200, 300)).at_orig()[0]
    assert (full == obj).all()
    ys, xs = np.nonzero(obj)
    assert m.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_different_classes_same_tile_or_disjoint_objects_stay_apart():
    obj = _disc(200, 300, 150, 100, 30)
    a = _piece(obj, (0, 0, 170, 200), 0, 0.9)
    assert len(merge([a, _piece(obj, (130, 0, 300, 200), 1, 0.6, cls=1)])) == 2  # other class
    assert len(merge([a, _piece(obj, (130, 0, 300, 200), 1, 0.6, cls=1)], agnostic=True)) == 1
    assert len(merge([a, _piece(obj, (0, 0, 300, 200), 0, 0.6)])) == 2  # same tile: the model's NMS decided
    # a neighbour of the same class touching obj in the overlap zone, seen by the other tile
    far = _piece(_disc(200, 300, 155, 58, 14) & ~obj, (130, 0, 300, 200), 1, 0.5)
    assert len(merge([a, far])) == 2


def test_nms_keeps_the_best_piece_and_its_mask():
    obj = _disc(200, 300, 150, 100, 60)
    a = _piece(obj, (0, 0, 170, 200), 0, 0.9)
    b = _piece(obj, (130, 0, 300, 200), 1, 0.6)
    (m,) = merge([a, b], mode="nms")
    assert m is a


def test_crop_masks_index_like_masks():
    obj = _disc(100, 100, 50, 50, 20)
    p = _piece(obj, (0, 0, 100, 100), 0, 0.9)
    cm = CropMasks([p, p], (100, 100))
    assert cm.data.shape == (2, 100, 100) and cm.data.dtype.is_floating_point
    assert len(cm[1:]) == 1 and len(cm[0]) == 1
    (poly,) = cm[0].xy
    assert 25 < poly[:, 0].min() < 35 and 65 < poly[:, 0].max() < 75  # polygon in full-image pixels
