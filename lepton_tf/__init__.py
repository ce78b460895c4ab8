"""lepton_tf: compact, deployable Keras classifiers.

Train with `tf.data` pipelines, prune and quantization-aware-train with TF-MOT,
export SavedModel and TFLite. The public API is `lepton_tf.Run`:

    from lepton_tf import Run
    run = Run.create("saved_models/flowers", data="photos/").train().quantize()

Importing this package is cheap: `Run` (and with it TensorFlow, always through
`lepton_tf.keras`) is loaded on first use.
"""

__version__ = "0.1.0"
__all__ = ["Run", "__version__"]


def __getattr__(name):
    if name == "Run":
        from lepton_tf.run import Run

        return Run
    raise AttributeError(f"module 'lepton_tf' has no attribute {name!r}")
