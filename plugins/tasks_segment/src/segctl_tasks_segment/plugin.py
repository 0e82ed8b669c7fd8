"""Entry point of the segment task plugin: registration only, nothing heavy imported."""
from segctl import hookimpl
from segctl.specs import TaskSpec


@hookimpl
def segctl_register_tasks():
    return [TaskSpec(name="segment", target="segctl_tasks_segment.task:SegmentTask",
                     schema="segctl_tasks_segment.schema:OPTIONS",
                     modes=("train", "val", "predict", "track"),
                     requires=("torch", "torchvision", "cv2", "numpy"),
                     install="pip install torch==2.14.1 torchvision==0.29.1 opencv-python-headless numpy",
                     description="instance segmentation: train, val, predict, track")]
