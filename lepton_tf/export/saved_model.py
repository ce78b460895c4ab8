"""SavedModel export with a `serving_default` signature that takes raw inputs.

Image models take encoded images and decode, resize and normalise inside,
with the run's preprocessing object (the very ops the loader trained on), so
a server sees exactly the training pixels; text models take sentences and
tokenise inside. Either way a client sends what it has and gets
probabilities and label names back. Each export adds a version folder the
way TF Serving expects (`saved_model/1/`, then `2/`…), written atomically.
"""

from lepton_tf.fileio import atomic_dir
from lepton_tf.keras import tf


class ImageClassifierModule(tf.Module):
    """Wraps a Keras image classifier with its labels and `ImagePreprocessing`."""

    def __init__(self, model, class_names, preprocessing):
        super().__init__()
        self.model = model
        self.class_names = tf.constant(class_names)
        self.preprocessing = preprocessing

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve(self, images):
        """Classifies a batch of encoded images (JPEG, PNG, BMP, GIF, WebP: what the loader accepts)."""
        inputs = tf.map_fn(self.preprocessing.serving_graph, images,
                           fn_output_signature=tf.TensorSpec(self.preprocessing.shape, tf.float32))
        return _outputs(self.model(inputs, training=False), self.class_names)


class TextClassifierModule(tf.Module):
    """Wraps a Keras text classifier with its labels and `TextPreprocessing` (TF ops, saved with the model)."""

    def __init__(self, model, class_names, preprocessing):
        super().__init__()
        self.model = model
        self.class_names = tf.constant(class_names)
        self.tokenizer = preprocessing.tokenizer  # tracked, so its vocabulary tables are saved
        self.preprocessing = preprocessing

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(self, texts):
        """Classifies a batch of raw UTF-8 sentences."""
        return _outputs(self.model(self.preprocessing.serving_graph(texts), training=False), self.class_names)


def _outputs(probabilities, class_names):
    return {"probabilities": probabilities, "classes": tf.gather(class_names, tf.argmax(probabilities, axis=-1))}


def save_module(module, path):
    """Writes a serving module's SavedModel to `path` (e.g. `RUN_DIR/saved_model/1`) atomically."""
    with atomic_dir(path) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
    return path
