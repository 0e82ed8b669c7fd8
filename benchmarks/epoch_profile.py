"""Where one training epoch's time goes (train and validation), on the CPU.

    python benchmarks/epoch_profile.py [--imgsz 160] [--epochs 3] [--batch -1] [--model best.pt]

Trains yolov8n-seg on the built-in shapes set (128/32 images) under cProfile and prints the
cumulative time of the pieces of an epoch: data loading, forward, loss, backward, optimiser step and
EMA for training; inference, NMS, ground-truth rasterisation, mask building, matching and the AP
reduction for validation. ``--model`` starts from a checkpoint (a half-trained model makes the
validation's post-processing realistic: a model fresh from initialisation predicts almost nothing
above conf 0.001 that overlaps a ground-truth box).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile

PIECES = [
    ("train epoch", "trainer.py", "_train_epoch"),
    ("  data (next batch)", "dataloader.py", "__next__"),
    ("  forward+loss (train)", "loss.py", "__call__"),
    ("  backward", "_tensor.py", "backward"),
    ("  optimiser step", "trainer.py", "_optimizer_step"),
    ("  EMA update", "optim.py", "update"),
    ("validation", "trainer.py", "_validate"),
    ("  inference", "validator.py", "infer"),
    ("  val loss", "validator.py", "loss_fn"),
    ("  NMS", "ops.py", "non_max_suppression"),
    ("  per-image matching", "validator.py", "match_image"),
    ("    ground truth masks", "validator.py", "_ground_truth"),
    ("    predicted masks", "masks_ops.py", "process_masks_native"),
    ("    evaluate_image", "metrics.py", "evaluate_image"),
    ("      mask IoU", "masks_ops.py", "mask_iou"),
    ("      COCO matching", "ap.py", "_match_by_confidence"),
    ("    confusion matrix", "confusion.py", "process_batch"),
    ("  AP reduction", "validator.py", "reduce_matches"),
    ("checkpoint save", "trainer.py", "_save"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=-1)
    ap.add_argument("--model", default="yolov8n-seg.yaml")
    ap.add_argument("--top", type=int, default=0, help="also print the N most expensive functions")
    args = ap.parse_args()

    from segctl import YOLO
    from segctl_dataset_shapes.generate import generate

    tmp = tempfile.mkdtemp(prefix="segctl-prof-")
    data = str(generate(os.path.join(tmp, "shapes"), n_train=128, n_val=32, imgsz=320, seed=0, coco=False))
    model = YOLO(args.model)
    prof = cProfile.Profile()
    prof.enable()
    model.train(data=data, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, project=os.path.join(tmp, "runs"),
                verbose=False, plots=False, close_mosaic=0)
    prof.disable()
    st = pstats.Stats(prof)
    total = sum(v[3] for k, v in st.stats.items() if k[2] == "train" and k[0].endswith("trainer.py"))
    print(f"{args.epochs} epochs, imgsz {args.imgsz}, batch {model.trainer.batch_size}; "
          f"train() {total:.1f} s (cumulative seconds over all epochs)")
    for label, file, func in PIECES:
        cum = sum(v[3] for k, v in st.stats.items() if k[0].endswith(file) and k[2] == func)
        calls = sum(v[1] for k, v in st.stats.items() if k[0].endswith(file) and k[2] == func)
        print(f"{label:<26} {cum:7.2f} s  {cum / max(total, 1e-9):6.1%}  ({calls} calls)")
    if args.top:
        st.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
