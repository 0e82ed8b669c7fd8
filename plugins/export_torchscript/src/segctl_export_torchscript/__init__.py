"""segctl plugin: TorchScript exporter and backend."""
