"""TF-MOT stages: magnitude pruning and (pruning-preserving) quantization-aware training."""
