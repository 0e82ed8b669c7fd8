"""segctl plugin: Edge TPU exporter (full-integer TFLite + edgetpu_compiler)."""
