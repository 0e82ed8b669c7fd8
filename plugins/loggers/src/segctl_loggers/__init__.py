"""segctl plugin: CSV and TensorBoard training loggers on the lifecycle hooks."""
