"""SavedModel export with a `serving_default` signature that takes raw inputs.

Image models take encoded images and decode, resize and normalise inside,
with the very function the loader trained on (`decode_and_resize`), so a
server sees exactly the training pixels;
text models take sentences and tokenise inside. Either way a client sends
what it has and gets probabilities and label names back. The folder is
versioned the way TF Serving expects (`saved_model/1/`) and written atomically.
"""

from lepton_tf.data.images import decode_and_resize
from lepton_tf.fileio import atomic_dir
from lepton_tf.keras import tf


class ImageClassifierModule(tf.Module):
    """Wraps a Keras classifier with its labels and preprocessing."""

    def __init__(self, model, class_names, normalization, image_size, resize="squash"):
        super().__init__()
        self.model = model
        self.class_names = tf.constant(class_names)
        self.mean = tf.constant(normalization.mean, tf.float32)
        self.std = tf.constant(normalization.std, tf.float32)
        self.image_size = int(image_size)
        self.resize = resize

    def _decode(self, data):
        """One encoded image → uint8 [size, size, 3], as the loader decodes and resizes it."""
        return decode_and_resize(data, self.image_size, self.resize)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve(self, images):
        """Classifies a batch of encoded images (JPEG, PNG, BMP, GIF, WebP: what the loader accepts)."""
        pixels = tf.map_fn(self._decode, images,
                           fn_output_signature=tf.TensorSpec([self.image_size] * 2 + [3], tf.uint8))
        probabilities = self.model((tf.cast(pixels, tf.float32) - self.mean) / self.std, training=False)
        classes = tf.gather(self.class_names, tf.argmax(probabilities, axis=-1))
        return {"probabilities": probabilities, "classes": classes}


class TextClassifierModule(tf.Module):
    """Wraps a Keras text classifier with its labels and tokenizer (TF ops, saved with the model)."""

    def __init__(self, model, class_names, tokenizer):
        super().__init__()
        self.model = model
        self.class_names = tf.constant(class_names)
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serve(self, texts):
        """Classifies a batch of raw UTF-8 sentences."""
        probabilities = self.model(self.tokenizer(texts), training=False)
        classes = tf.gather(self.class_names, tf.argmax(probabilities, axis=-1))
        return {"probabilities": probabilities, "classes": classes}


def save_module(module, path):
    """Writes a serving module's SavedModel to `path` (e.g. `RUN_DIR/saved_model/1`) atomically."""
    with atomic_dir(path) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
    return path
