# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 — Deploy TFLite: formats, metadata, LiteRT and MediaPipe
#
# This notebook trains a run and takes it through `run.quantize()` (prune →
# QAT → export → evaluate, what `lepton quantize` does), then opens the four `.tflite` files it writes: what each format
# costs in size and latency, what metadata travels inside the file, and how
# the LiteRT interpreter and MediaPipe Tasks (the client Android and iOS apps
# use) run it. It ends with the app code that loads the file.
#
# **Quick mode** (`LEPTON_QUICK=1`, what CI runs) uses the built-in digits
# with a couple of epochs a stage.

# %%
import os
from pathlib import Path

QUICK = os.environ.get("LEPTON_QUICK", "0") == "1"
RUN_DIR = Path("../saved_models/notebook_04")
TRAIN = ["train.verbose=0"] + (["train.epochs=3"] if QUICK else [])
OPTIMIZE = ["optimize.prune_epochs=2", "optimize.qat_epochs=2"] if QUICK else []

# %%
import matplotlib.pyplot as plt
import numpy as np

from lepton_tf import Run

run = Run.create(RUN_DIR, config="../configs/default.yaml", overrides=TRAIN + OPTIMIZE,
                 overwrite=True)  # re-running the tutorial replaces its own run
run.train().quantize()
card = run.card
print("stages:", {name: stage.accuracy for name, stage in card.stages.items()})
print(run.summary())

# %% [markdown]
# ## Four formats, measured by running each file
# Every figure below was measured on the test split by running the file itself
# (`run.evaluate()` measures them again): accuracy, agreement with the Keras
# model it came from, size, and single-image latency with 1 and 2 interpreter
# threads.

# %%
formats = ["float32", "float16", "dynamic", "int8"]
entries = [card.artifacts[f"tflite/{fmt}.tflite"] for fmt in formats]
print(f"{'format':8} {'KB':>7} {'gzip KB':>8} {'accuracy':>9} {'agreement':>10} {'MediaPipe':>10}")
for fmt, entry in zip(formats, entries):
    print(f"{fmt:8} {entry.bytes / 1e3:7.1f} {entry.gzip_bytes / 1e3:8.1f} {entry.accuracy:9.4f} "
          f"{entry.agreement:10.4f} {entry.mediapipe_agreement:10.4f}")

figure, (size_axis, latency_axis) = plt.subplots(1, 2, figsize=(11, 4))
size_axis.bar(formats, [entry.bytes / 1e3 for entry in entries])
size_axis.set(title="File size", xlabel="format", ylabel="size (KB)")
positions = np.arange(len(formats))
latency_axis.bar(positions - 0.2, [entry.latency_ms_p50 for entry in entries], 0.4, label="1 thread")
latency_axis.bar(positions + 0.2, [entry.latency_ms_2_threads["p50"] for entry in entries], 0.4, label="2 threads")
latency_axis.set(title="Single-image latency (p50, LiteRT, this CPU)", xlabel="format", ylabel="latency (ms)",
                 xticks=positions, xticklabels=formats)
latency_axis.legend()
plt.show()

# %% [markdown]
# ## The model card
# `MODEL_CARD.md` carries the same figures for a reader: its start, and the
# table of exported files.

# %%
from IPython.display import Markdown, display

lines = (run.folder.path / "MODEL_CARD.md").read_text().splitlines()
start = lines[:lines.index("## Intended use")]
table = lines[lines.index("### Exported files (test split)"):]
table = table[:next(i for i, line in enumerate(table) if i and line.startswith("#"))]
display(Markdown("\n".join(start + table)))

# %% [markdown]
# ## What travels inside the file
# Labels, the input's colour space and normalisation, and (for text) the
# tokenizer are stored as TFLite metadata, so an app needs nothing else.
# The export writes a readable dump of it beside each file,
# `tflite/<format>.metadata.json`.

# %%
import json

described = json.loads((run.folder.path / "tflite" / "int8.metadata.json").read_text())
subgraph = described["metadata"]["subgraphMetadata"][0]
print("model:", described["metadata"]["name"], "| min parser version:", described["metadata"]["minParserVersion"])
print("attached files:", described["associated_files"])
print("input:", subgraph["inputTensorMetadata"][0]["description"])
print("output:", subgraph["outputTensorMetadata"][0]["description"])

# %% [markdown]
# ## Running a file with the LiteRT interpreter
# Image files take RGB pixels 0–255: float32 for the float formats, uint8 for
# int8 (scale 1, zero point 0 — a pixel is its own value).

# %%
from ai_edge_litert.interpreter import Interpreter

data = run.task.data  # the run's decoded splits (test images: uint8 RGB pixels)
labels = (run.folder.path / "labels.txt").read_text().splitlines()
interpreter = Interpreter(model_path=str(run.folder.path / "tflite" / "int8.tflite"))
interpreter.allocate_tensors()
source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
print("input", source["dtype"].__name__, source["shape"], "quantization", source["quantization"])
interpreter.set_tensor(source["index"], data.test.images[:1])
interpreter.invoke()
scale, zero_point = target["quantization"]
scores = (interpreter.get_tensor(target["index"])[0].astype(np.float32) - zero_point) * scale
print("true:", labels[data.test.labels[0]], "| LiteRT int8:", labels[int(scores.argmax())], f"({scores.max():.3f})")

# %% [markdown]
# ## Running it with MediaPipe Tasks
# MediaPipe reads the labels and the input format from the metadata alone —
# this is the same client API as the Android and iOS libraries.

# %%
import mediapipe as mp
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core import base_options

options = vision.ImageClassifierOptions(
    base_options=base_options.BaseOptions(model_asset_path=str(run.folder.path / "tflite" / "int8.tflite")), max_results=3)
with vision.ImageClassifier.create_from_options(options) as classifier:
    result = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=data.test.images[0]))
for category in result.classifications[0].categories:
    print(f"{category.category_name}: {category.score:.3f}")

# %% [markdown]
# ## In an app
# Android (Kotlin, `com.google.mediapipe:tasks-vision`), the file in
# `src/main/assets/`:
#
# ```kotlin
# val classifier = ImageClassifier.createFromOptions(
#     context,
#     ImageClassifier.ImageClassifierOptions.builder()
#         .setBaseOptions(BaseOptions.builder().setModelAssetPath("int8.tflite").build())
#         .setMaxResults(3)
#         .build())
# val top = classifier.classify(BitmapImageBuilder(bitmap).build())
#     .classificationResult().classifications()[0].categories()[0]
# ```
#
# iOS (Swift, `MediaPipeTasksVision`), the file in the app bundle:
#
# ```swift
# let options = ImageClassifierOptions()
# options.baseOptions.modelAssetPath = Bundle.main.path(forResource: "int8", ofType: "tflite")!
# options.maxResults = 3
# let classifier = try ImageClassifier(options: options)
# let top = try classifier.classify(image: try MPImage(uiImage: photo))
#     .classificationResult.classifications[0].categories[0]
# ```
#
# The label names (`top.categoryName`) come from the file's metadata.
