"""segctl-models-yolo26: the YOLO26 architecture family (NMS-free end-to-end head) as a segctl plugin."""
