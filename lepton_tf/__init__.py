"""lepton_tf: compact, deployable Keras classifiers.

Train with `tf.data` pipelines, prune and quantization-aware-train with TF-MOT,
export SavedModel and TFLite. Importing this package is cheap: TensorFlow is
loaded by the modules that need it, always through `lepton_tf.keras`.
"""

__version__ = "0.1.0"
