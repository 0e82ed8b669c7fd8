"""segctl plugin: the instance-segmentation task: train, val, predict."""
