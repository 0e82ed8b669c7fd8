"""segctl plugin: TensorFlow SavedModel exporter (ONNX -> onnx2tf) and TensorFlow backend."""
