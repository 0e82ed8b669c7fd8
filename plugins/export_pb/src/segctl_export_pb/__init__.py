"""segctl plugin: frozen TensorFlow GraphDef (.pb) exporter and backend."""
