"""segctl plugin: ncnn exporter (through PNNX) and ncnn backend."""
