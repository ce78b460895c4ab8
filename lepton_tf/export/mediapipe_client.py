"""Runs exported `.tflite` files through the MediaPipe Tasks Python API.

This is the client app developers use on Android and iOS (`ImageClassifier`,
`TextClassifier`): it reads labels, normalisation and the tokenizer from the
file's metadata alone. Agreement between its top-1 names and the Keras
model's is what proves a file drops into a mobile app unchanged.
"""

import numpy as np


def image_top1(model_path, images):
    """Top-1 category names MediaPipe's ImageClassifier gives uint8 RGB images [N, H, W, 3]."""
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core import base_options

    options = vision.ImageClassifierOptions(
        base_options=base_options.BaseOptions(model_asset_path=str(model_path)), max_results=1)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        names = []
        for image in images:
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image, dtype=np.uint8))
            names.append(_top_name(classifier.classify(frame)))
    return names


def text_top1(model_path, texts):
    """Top-1 category names MediaPipe's TextClassifier gives raw sentences."""
    from mediapipe.tasks.python import text
    from mediapipe.tasks.python.core import base_options

    options = text.TextClassifierOptions(
        base_options=base_options.BaseOptions(model_asset_path=str(model_path)), max_results=1)
    with text.TextClassifier.create_from_options(options) as classifier:
        return [_top_name(classifier.classify(sentence)) for sentence in texts]


def _top_name(result):
    categories = result.classifications[0].categories
    return categories[0].category_name if categories else None
