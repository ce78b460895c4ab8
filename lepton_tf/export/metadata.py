"""TFLite model metadata that MediaPipe Tasks and the LiteRT support libraries read.

The metadata tables are built with MediaPipe's own `metadata_info` classes
(the same ones its metadata writers use), so labels, normalisation and the
regex tokenizer are described exactly as `ImageClassifier` and
`TextClassifier` expect. MediaPipe's writer front end cannot be used: in
current wheels it imports a native module the wheels do not ship
(`_pywrap_metadata_version`). What it would add — packing the metadata into
the model flatbuffer, computing the minimum parser version, and appending the
associated files as a zip archive — is done here.
"""

import io
import json
import zipfile

import flatbuffers
import numpy as np
from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_fb
from mediapipe.tasks.metadata import schema_py_generated as schema_fb
from mediapipe.tasks.python.metadata.metadata_writers import metadata_info

METADATA_NAME = "TFLITE_METADATA"  # the key MediaPipe and LiteRT look for
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"


def image_classifier_metadata(name, description, version, quantized_input):
    """Model metadata for an image classifier that takes RGB pixels 0-255, with labels.

    The model normalises inside its graph, so float files declare the identity
    normalisation (mean 0, std 1: MediaPipe feeds pixel values unchanged) and
    uint8 files none (MediaPipe feeds uint8 pixels as they are).

    Args:
      name, description, version: shown by model viewers and app tooling.
      quantized_input: the input tensor is uint8.
    """
    tensor_type = schema_fb.TensorType.UINT8 if quantized_input else schema_fb.TensorType.FLOAT32
    identity = None if quantized_input else [0.0]
    image = metadata_info.InputImageTensorMd(
        name="image", description="RGB image, pixels 0-255", norm_mean=identity,
        norm_std=None if quantized_input else [1.0], color_space_type=metadata_fb.ColorSpaceType.RGB,
        tensor_type=tensor_type)
    return _model_metadata(name, description, version, image.create_metadata())


def text_classifier_metadata(name, description, version, delimiter_pattern):
    """Model metadata for a text classifier with an on-device regex tokenizer and labels."""
    tokenizer = metadata_info.RegexTokenizerMd(delimiter_pattern, VOCAB_FILE)
    text = metadata_info.InputTextTensorMd(name="token_ids", description="Token ids from the regex tokenizer",
                                           tokenizer_md=tokenizer)
    return _model_metadata(name, description, version, text.create_metadata())


def _model_metadata(name, description, version, input_metadata):
    output = metadata_info.ClassificationTensorMd(
        name="probabilities", description="Probability of each class (labels.txt order)",
        label_files=[metadata_info.LabelFileMd(LABELS_FILE)], tensor_type=schema_fb.TensorType.FLOAT32)
    subgraph = metadata_fb.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [input_metadata]
    subgraph.outputTensorMetadata = [output.create_metadata()]
    model = metadata_info.GeneralMd(name=name, version=version, description=description).create_metadata()
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = minimum_parser_version(input_metadata)
    return model


def minimum_parser_version(input_metadata):
    """The oldest metadata parser that reads what this module writes.

    Follows MediaPipe's `metadata_version.cc` for the fields used here:
    a regex tokenizer needs 1.2.1, a vocabulary file 1.0.1, the rest 1.0.0.
    """
    units = input_metadata.processUnits or []
    if any(unit.optionsType == metadata_fb.ProcessUnitOptions.RegexTokenizerOptions for unit in units):
        return "1.2.1"
    return "1.0.0"


def attach(model_bytes, metadata, files):
    """Returns `model_bytes` with `metadata` packed in and `files` ({name: bytes}) appended.

    Any metadata the model already carries under the same name is replaced;
    the converter's own entries (runtime version, conversion metadata) stay.
    """
    builder = flatbuffers.Builder(0)
    builder.Finish(metadata.Pack(builder), file_identifier=METADATA_IDENTIFIER)
    model = schema_fb.ModelT.InitFromObj(schema_fb.Model.GetRootAsModel(bytearray(model_bytes), 0))
    buffer = schema_fb.BufferT()
    buffer.data = np.frombuffer(bytes(builder.Output()), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema_fb.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if _name(m) != METADATA_NAME] + [entry]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=MODEL_IDENTIFIER)
    packed = io.BytesIO(bytes(builder.Output()))
    with zipfile.ZipFile(packed, "a") as archive:  # associated files travel as a zip appended to the model
        for name, content in files.items():
            archive.writestr(name, content)
    return packed.getvalue()


def _name(metadata_entry):
    name = metadata_entry.name
    return name.decode() if isinstance(name, bytes) else name


def read(model_bytes):
    """Reads the metadata and associated file names back from a `.tflite` file.

    Returns:
      A JSON-ready dict (what `metadata.json` holds), or None without metadata.
    """
    model = schema_fb.Model.GetRootAsModel(bytearray(model_bytes), 0)
    for index in range(model.MetadataLength()):
        entry = model.Metadata(index)
        if entry.Name().decode() == METADATA_NAME:
            data = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
            parsed = metadata_fb.ModelMetadataT.InitFromObj(metadata_fb.ModelMetadata.GetRootAsModelMetadata(data, 0))
            with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
                files = sorted(archive.namelist())
            return {"metadata": _plain(parsed), "associated_files": files}
    return None


def _plain(value):
    """Flatbuffer object-API values as JSON-ready dicts, lists and scalars."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "__dict__"):
        return {key: _plain(item) for key, item in vars(value).items() if item is not None}
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def dump(model_bytes):
    """`metadata.json` text for a model file."""
    return json.dumps(read(model_bytes), indent=2, sort_keys=True) + "\n"
