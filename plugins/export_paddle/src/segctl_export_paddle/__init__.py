"""segctl plugin: PaddlePaddle exporter (through X2Paddle) and Paddle Inference backend."""
