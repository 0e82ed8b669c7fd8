"""segctl plugin: YOLO polygon-txt datasets and dataset YAML.

Public API: :class:`~segctl_dataset_yolo.format.YOLOFormat` (``check_config``, ``load``),
:func:`~segctl_dataset_yolo.drop.check_drop_ratio`. Submodules import numpy/PIL; this file does not.
"""
