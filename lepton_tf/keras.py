"""The one place the project imports Keras.

TF-MOT 0.8 supports only Keras 2, which ships as `tf_keras`. TensorFlow picks
its Keras when it is first imported, so `TF_USE_LEGACY_KERAS=1` must be set
before that; every module of the package imports `tf`, `keras` and `tfmot`
from here and nowhere else.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep C++ INFO/WARNING noise out of user logs

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402

__all__ = ["tf", "keras", "tfmot"]
