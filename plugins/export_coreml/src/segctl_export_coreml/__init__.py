"""segctl plugin: CoreML exporter and CoreML backend."""
