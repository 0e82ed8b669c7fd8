"""segctl-models-yolo11: the YOLO11 architecture family as a segctl plugin."""
