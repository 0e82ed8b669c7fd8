"""segctl plugin: TensorRT engine exporter and TensorRT runtime backend (NVIDIA GPUs only)."""
