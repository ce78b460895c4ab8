"""SavedModel export with a `serving_default` signature that takes encoded images.

The signature decodes, resizes and normalises inside, so a client sends JPEG
or PNG bytes and gets probabilities and label names back. The folder is
versioned the way TF Serving expects (`saved_model/1/`) and written atomically.
"""

from lepton_tf.data.images import resize_images
from lepton_tf.fileio import atomic_dir
from lepton_tf.keras import tf


class ImageClassifierModule(tf.Module):
    """Wraps a Keras classifier with its labels and preprocessing."""

    def __init__(self, model, class_names, normalization, image_size):
        super().__init__()
        self.model = model
        self.class_names = tf.constant(class_names)
        self.mean = tf.constant(normalization.mean, tf.float32)
        self.std = tf.constant(normalization.std, tf.float32)
        self.image_size = int(image_size)

    def _decode(self, data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        size = self.image_size
        same_size = tf.reduce_all(tf.equal(tf.shape(image)[:2], [size, size]))
        image = tf.cond(same_size, lambda: image,
                        lambda: resize_images(image, size))
        return tf.ensure_shape(image, [size, size, 3])

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    def serve(self, images):
        """Classifies a batch of encoded images (JPEG, PNG, BMP, GIF)."""
        pixels = tf.map_fn(self._decode, images,
                           fn_output_signature=tf.TensorSpec([self.image_size] * 2 + [3], tf.uint8))
        probabilities = self.model((tf.cast(pixels, tf.float32) - self.mean) / self.std, training=False)
        classes = tf.gather(self.class_names, tf.argmax(probabilities, axis=-1))
        return {"probabilities": probabilities, "classes": classes}


def export_saved_model(model, class_names, normalization, image_size, path):
    """Writes the SavedModel to `path` (e.g. `RUN_DIR/saved_model/1`) atomically.

    Returns:
      The path written.
    """
    module = ImageClassifierModule(model, class_names, normalization, image_size)
    with atomic_dir(path) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
    return path
