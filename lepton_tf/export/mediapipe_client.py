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


def image_files_top1(model_path, files, resize="squash"):
    """Top-1 category names MediaPipe's ImageClassifier gives image files at their full size.

    `resize` says how the model was trained to see other shapes: `squash`
    (MediaPipe's own resize of the whole frame), `crop` (a centred square
    region of interest, as an app would pass) or `pad` (the image is
    letterboxed here, as an app would have to: MediaPipe cannot).
    """
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.components.containers import rect
    from mediapipe.tasks.python.core import base_options

    from lepton_tf.data.images import decode_file

    options = vision.ImageClassifierOptions(
        base_options=base_options.BaseOptions(model_asset_path=str(model_path)), max_results=1)
    names = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for file in files:
            pixels = decode_file(file)
            if resize == "pad":
                pixels = _letterbox(pixels)
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
            region = _centre_square(*pixels.shape[:2], rect) if resize == "crop" else None
            processing = vision.ImageProcessingOptions(region_of_interest=region) if region else None
            names.append(_top_name(classifier.classify(frame, processing)))
    return names


def _centre_square(height, width, rect):
    side = min(height, width)
    left, top = (width - side) // 2 / width, (height - side) // 2 / height
    return rect.RectF(left=left, top=top, right=left + side / width, bottom=top + side / height)


def _letterbox(pixels):
    height, width = pixels.shape[:2]
    side = max(height, width)
    square = np.zeros((side, side, 3), np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top:top + height, left:left + width] = pixels
    return square


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
