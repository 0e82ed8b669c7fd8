"""segctl plugin: ONNX exporter and ONNX Runtime backend."""
