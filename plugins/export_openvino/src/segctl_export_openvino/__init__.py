"""segctl plugin: OpenVINO exporter and OpenVINO runtime backend."""
