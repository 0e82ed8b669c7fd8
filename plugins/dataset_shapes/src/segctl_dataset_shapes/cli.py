"""The ``segctl data`` command group: ``demo``, ``demo-video``, ``check`` and ``convert coco2yolo``.

Why here: the group needs one owner so that its sub-commands share one ``--help`` page; this plugin
is installed by default, so it hosts the group. Work is delegated lazily: ``check`` to the core's
``segctl.datasets.check`` and ``convert coco2yolo`` to ``segctl_dataset_coco`` (which may not be
installed: then a clear missing-dependency error is raised). Other plugins add their own
commands through ``segctl_register_commands`` as usual.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(name="data", help="Dataset tools: make the demo dataset, check a dataset, convert formats.",
                  no_args_is_help=True)
convert_app = typer.Typer(name="convert", help="Convert between dataset formats.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")


@app.command("demo")
def demo(out: Path = typer.Argument(..., help="folder to write the dataset into"),
         train: int = typer.Option(128, "--train", help="number of training images"),
         val: int = typer.Option(32, "--val", help="number of validation images"),
         imgsz: int = typer.Option(320, "--imgsz", help="image size in pixels (square)"),
         seed: int = typer.Option(0, "--seed", help="random seed (same seed, same bytes)"),
         coco: bool = typer.Option(True, "--coco/--no-coco", help="also write COCO JSON annotations"),
         preview: bool = typer.Option(False, "--preview", help="also write preview.png: labels drawn on images")) -> None:
    """Generate the synthetic 7-class shapes dataset (no download)."""
    from .generate import generate

    path = generate(out, n_train=train, n_val=val, imgsz=imgsz, seed=seed, coco=coco)
    typer.echo(f"shapes dataset: {train} train + {val} val images at {imgsz}px -> {path}")
    if preview:
        from .preview import write_preview

        typer.echo(f"preview: {write_preview(out, Path(out) / 'preview.png')}")


def _session(ctx: typer.Context):
    """The session the core put on the click context, else a fresh one."""
    obj = ctx.find_root().obj
    if isinstance(obj, dict):
        obj = obj.get("session")
    if obj is not None:
        return obj
    from segctl.session import Session

    return Session.create()


@app.command("demo-video")
def demo_video(out: Path = typer.Argument(..., help="folder to write the video and its ground truth into"),
               frames: int = typer.Option(150, "--frames", help="number of frames"),
               objects: int = typer.Option(16, "--objects", help="number of objects (some enter later)"),
               size: int = typer.Option(320, "--size", help="frame size in pixels (square)"),
               pan: float = typer.Option(2.0, "--pan", help="camera pan in pixels per frame"),
               shake: float = typer.Option(6.0, "--shake", help="camera shake amplitude in pixels"),
               seed: int = typer.Option(0, "--seed", help="random seed (same seed, same frames)")) -> None:
    """Generate a moving-shapes video with MOT ground truth (ids, boxes, visibility) for track mode."""
    from .video import make_tracking_video

    p = make_tracking_video(out, n_frames=frames, size=size, n_objects=objects, pan=pan, shake=shake, seed=seed,
                            masks=True)
    typer.echo(f"tracking video: {p['video']}\nframes: {p['frames']}\nground truth (MOT): {p['gt']}\n"
               f"masks: {p['masks']}")


@app.command("check")
def check(ctx: typer.Context, data: str = typer.Argument(..., help="dataset YAML, COCO JSON or named dataset")) -> None:
    """Verify a dataset and print what is wrong with it (per file, with counts)."""
    from segctl.datasets import check as core_check

    core_check(data.removeprefix("data="), _session(ctx))  # accepts `check data=x.yaml` too


@convert_app.command("coco2yolo")
def coco2yolo(json_path: Path = typer.Argument(..., help="COCO instances JSON file"),
              out: Path = typer.Argument(..., help="output folder for the YOLO dataset"),
              images: Optional[Path] = typer.Option(None, "--images", help="folder holding the images"),
              split: Optional[str] = typer.Option(None, "--split", help="split name (default from the file name)"),
              copy: bool = typer.Option(False, "--copy", help="copy images instead of linking them")) -> None:
    """Convert COCO JSON instance annotations to a YOLO polygon dataset."""
    try:
        from segctl_dataset_coco.convert import coco2yolo as run
    except ImportError as e:
        from segctl.errors import MissingDependencyError

        hint = ("pip install -e plugins/dataset_coco  # from a segctl checkout (make install does it)"
                if (e.name or "").startswith("segctl") else "pip install numpy pycocotools opencv-python-headless pillow")
        raise MissingDependencyError(f"'segctl data convert coco2yolo' needs segctl-dataset-coco: {e}", hint=hint) from e
    report = run(json_path, out, images_dir=images, split=split, copy=copy)
    typer.echo(report.summary())
