"""segctl plugin: YOLOv8 architecture family (layers, YAML configs, Ultralytics checkpoint reader)."""
