"""Time to accuracy: how long plain ``segctl segment train`` takes to reach a useful mask mAP.

    python benchmarks/time_to_accuracy.py [--imgsz 160] [--epochs 20] [--targets 0.2 0.3 0.4]
                                          [--runs before after] [--train 128 --val 32]

Trains yolov8n-seg from scratch on the built-in synthetic shapes set (the demo's 128 train / 32 val
images, generated into a temporary folder) once per setting, validating after every epoch, and prints
for each setting the wall time and epoch at which mask mAP50 first reaches each target, the final and
best mask mAP50, seconds per epoch and how an epoch splits into training and validation.

Settings (``--runs``):

* ``after``  -- the defaults: only ``data model epochs imgsz`` are given, as a user types them;
* ``before`` -- the defaults this project had before issue 23, spelled out as keys so the same code
  can reproduce them: ``batch=16``, AdamW with the reference's lr rule ``0.002*5/(4+nc)``
  (0.000909 for the 7 shapes classes), β1 0.9, warm-up 3 epochs.

Wall time is measured from the start of ``train()`` (set-up, dataset check and plots included) to the
end of each epoch's validation. Run it alone on the machine (timings), e.g. under a CPU lock.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

BEFORE = {"batch": 16, "optimizer": "AdamW", "lr0": 0.000909, "momentum": 0.9, "warmup_epochs": 3.0}
SETTINGS = {"after": {}, "before": BEFORE}


class _Clock:
    """A plugin of the lifecycle hooks: time stamps of each epoch's training end and validation end."""

    from segctl import hookimpl

    def __init__(self):
        self.t0 = time.perf_counter()
        self.train_end: list[float] = []
        self.rows: list[tuple[float, dict]] = []

    @hookimpl
    def segctl_on_train_epoch_end(self, trainer):
        self.train_end.append(time.perf_counter() - self.t0)

    @hookimpl
    def segctl_on_fit_epoch_end(self, trainer, metrics):
        self.rows.append((time.perf_counter() - self.t0, dict(metrics)))


def _setting(name: str) -> dict:
    """Keys of a named setting, or of ``NAME:key=value,...`` (values parsed as YAML scalars)."""
    if name in SETTINGS:
        return dict(SETTINGS[name])
    import yaml

    _, _, spec = name.partition(":")
    return {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in spec.split(",") if kv)}


def run(setting: str, data: str, args, project: str) -> dict:
    from segctl import YOLO
    from segctl.session import Session

    clock = _Clock()
    session = Session.create(extra=(("tta-clock", clock),))
    model = YOLO("yolov8n-seg.yaml", session=session)
    kw = dict(data=data, epochs=args.epochs, imgsz=args.imgsz, project=project, name=setting.partition(":")[0], verbose=False,
              plots=setting == "after")
    kw.update(_setting(setting))
    clock.t0 = time.perf_counter()
    model.train(**kw)
    total = time.perf_counter() - clock.t0
    key = "metrics/mAP50(M)"
    maps = [r.get(key, 0.0) for _, r in clock.rows]
    reach = {}
    for t in args.targets:
        hit = next(((i + 1, clock.rows[i][0]) for i, m in enumerate(maps) if m >= t), None)
        reach[t] = hit
    ends = [t for t, _ in clock.rows]
    starts = [0.0] + ends[:-1]
    train_s = [te - ts for te, ts in zip(clock.train_end, starts)]
    val_s = [fe - te for fe, te in zip(ends, clock.train_end)]
    trainer = model.trainer
    return {"setting": setting, "total": total, "maps": maps, "reach": reach, "final": maps[-1] if maps else 0.0,
            "best": max(maps) if maps else 0.0, "epochs": len(maps),
            "train_s": sum(train_s[1:]) / max(len(train_s) - 1, 1), "val_s": sum(val_s[1:]) / max(len(val_s) - 1, 1),
            "batch": getattr(trainer, "batch_size", None), "opt": getattr(trainer, "opt_name", None),
            "lr0": getattr(trainer, "lr0", None), "warmup": getattr(trainer, "nw", None),
            "save_dir": str(getattr(trainer, "save_dir", ""))}


def _warm_up() -> None:
    """Import the training modules and build the model once, so the first setting timed does not
    pay the one-off import cost the others do not."""
    from segctl import YOLO
    from segctl_tasks_segment import loss, trainer, validator  # noqa: F401

    _ = YOLO("yolov8n-seg.yaml").model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--imgsz", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--targets", type=float, nargs="+", default=[0.2, 0.3, 0.4])
    ap.add_argument("--runs", nargs="+", default=["before", "after"],
                    help="before, after, or NAME:key=value,key=value (the defaults plus those keys)")
    ap.add_argument("--train", type=int, default=128)
    ap.add_argument("--val", type=int, default=32)
    ap.add_argument("--project", default=None, help="where the runs go (default: a temporary folder)")
    args = ap.parse_args()

    import torch

    from segctl_dataset_shapes.generate import generate

    tmp = tempfile.mkdtemp(prefix="segctl-tta-")
    data = str(generate(os.path.join(tmp, "shapes"), n_train=args.train, n_val=args.val, imgsz=320, seed=0,
                        coco=False))
    project = args.project or os.path.join(tmp, "runs")
    _warm_up()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; shapes {args.train}/{args.val} images, "
          f"imgsz {args.imgsz}, {args.epochs} epochs, yolov8n-seg from scratch, cpu")
    results = []
    for s in args.runs:
        r = run(s, data, args, project)
        results.append(r)
        curve = " ".join(f"{m:.2f}" for m in r["maps"])
        print(f"[{s}] batch {r['batch']} {r['opt']} lr0 {r['lr0']:g} warm-up {r['warmup']} it; "
              f"mask mAP50 per epoch: {curve}", flush=True)
    print()
    head = f"{'setting':<8} {'wall':>7} {'s/epoch':>8} {'train':>6} {'val':>5} " + " ".join(
        f"{'mAP50≥' + format(t, 'g'):>15}" for t in args.targets) + f" {'final':>6} {'best':>6}"
    print(head)
    for r in results:
        cells = []
        for t in args.targets:
            hit = r["reach"][t]
            cells.append(f"{'—':>15}" if hit is None else f"{f'{hit[1]:.0f} s (ep {hit[0]})':>15}")
        print(f"{r['setting']:<8} {r['total']:>6.0f}s {r['total'] / max(r['epochs'], 1):>8.1f} {r['train_s']:>6.1f} "
              f"{r['val_s']:>5.1f} " + " ".join(cells) + f" {r['final']:>6.3f} {r['best']:>6.3f}")
    if len(results) == 2:
        a, b = results
        for t in args.targets:
            ha, hb = a["reach"][t], b["reach"][t]
            if ha and hb:
                print(f"time to mask mAP50 {t:g}: {b['setting']}/{a['setting']} = {hb[1] / ha[1]:.2f}")
    for r in results:
        print(f"{r['setting']}: run folder {r['save_dir']}")


if __name__ == "__main__":
    main()
