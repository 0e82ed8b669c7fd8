"""segctl plugin: TFLite exporter (fp32/fp16/int8) and LiteRT backend."""
