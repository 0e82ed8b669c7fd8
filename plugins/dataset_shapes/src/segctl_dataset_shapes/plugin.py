"""Entry-point module: registers the named dataset ``shapes-seg`` and the ``segctl data`` command group.

Imports only ``segctl`` and its specs: generation (numpy, cv2) and the CLI (typer) load on use.
"""
from segctl import hookimpl
from segctl.specs import CommandSpec, DatasetSpec


@hookimpl
def segctl_register_datasets():
    return [DatasetSpec(name="shapes-seg", target="segctl_dataset_shapes.named:ensure_shapes",
                        requires=("numpy", "cv2", "yaml"), install="pip install numpy opencv-python-headless pyyaml",
                        description="synthetic 7-class shapes (generated locally on first use, no download)")]


@hookimpl
def segctl_register_commands():
    return [CommandSpec(name="data", target="segctl_dataset_shapes.cli:app", group=True, requires=("typer",),
                        description="dataset tools: demo, check, convert coco2yolo")]
