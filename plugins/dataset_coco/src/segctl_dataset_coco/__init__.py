"""segctl plugin: COCO JSON instance-segmentation datasets (pycocotools)."""
