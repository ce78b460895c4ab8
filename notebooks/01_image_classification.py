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
# # 01 — Image classification with a `tf.data` pipeline
#
# This notebook trains a small ResNet on an image folder with `lepton_tf.Run`,
# looks at what the augmentation pipeline feeds the model, reads its learning
# curves, confusion matrix and model card, and exports a SavedModel that
# answers a JPEG with a label.
#
# It uses the built-in digits data set (written once as an image folder inside
# the run), or `../shared/data/cifar10` when present and `LEPTON_QUICK` is not set.
# **Quick mode** (`LEPTON_QUICK=1`, what CI runs) trains for 2 epochs.

# %%
import os
from pathlib import Path

QUICK = os.environ.get("LEPTON_QUICK", "0") == "1"
CIFAR = Path("../../shared/data/cifar10")
USE_CIFAR = CIFAR.is_dir() and not QUICK
RECIPE = "../configs/cifar10.yaml" if USE_CIFAR else "../configs/default.yaml"
DATA = CIFAR if USE_CIFAR else None  # None: the recipe's data.source (the built-in digits)
RUN_DIR = Path("../saved_models/notebook_01")
OVERRIDES = ["train.verbose=0"] if QUICK else ["train.verbose=2"]
if QUICK:
    OVERRIDES += ["train.epochs=2", "export.latency_runs=10", "export.mediapipe_examples=100"]

# %% [markdown]
# ## Train
# `Run.create(...).train()` is what `make train` runs: it loads the data, then
# writes the run folder (config, labels, Keras weights, history, model card).
# A folder that already holds a trained run is refused unless
# `overwrite=True` — what re-running this tutorial needs (only files lepton
# wrote are replaced).

# %%
import matplotlib.pyplot as plt
import numpy as np

from lepton_tf import Run

run = Run.create(RUN_DIR, data=DATA, config=RECIPE, overrides=OVERRIDES, overwrite=True).train()
data = run.task.data
print(f"{len(run.task.class_names)} classes: {run.task.class_names}")
print(run.card.data.examples, "examples;", run.card.data.skipped, "files skipped")
float_stage = run.card.stages["float"]
print("test accuracy:", float_stage.accuracy, "in", float_stage.train_seconds, "s")

# %% [markdown]
# ## What the model sees
# One training batch after random crop, flip and the other augmentations in
# the recipe, un-normalised back to pixels for display.

# %%
images, labels = next(iter(run.task.dataset("train", run.config, True)))
normalization = run.task.preprocessing.normalization
mean, std = np.array(normalization.mean), np.array(normalization.std)
pixels = np.clip(images.numpy() * std + mean, 0, 255).astype(np.uint8)
figure, axes = plt.subplots(3, 8, figsize=(12, 5))
for axis, image, label in zip(axes.flat, pixels, labels.numpy()):
    axis.imshow(image)
    axis.set_title(run.task.class_names[int(label.argmax())], fontsize=9)
    axis.set_xticks([]), axis.set_yticks([])
size = run.task.preprocessing.size
figure.suptitle(f"Augmented training batch ({size}x{size} pixels)")
plt.show()

# %% [markdown]
# ## Learning curves
# The run logs one row an epoch to `history.csv` in its folder.

# %%
import csv

with open(run.folder.path / "history.csv", newline="") as handle:
    rows = {int(row["epoch"]): row for row in csv.DictReader(handle)}  # a resumed epoch: its last row
history = {key: [float(rows[epoch][key]) for epoch in sorted(rows)] for key in next(iter(rows.values()))}
epochs = np.arange(1, len(history["loss"]) + 1)
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
left.plot(epochs, history["loss"], label="train"), left.plot(epochs, history["val_loss"], label="validation")
left.set(title="Loss", xlabel="epoch", ylabel="cross-entropy (nats)"), left.legend()
right.plot(epochs, history["accuracy"], label="train"), right.plot(epochs, history["val_accuracy"], label="validation")
right.set(title="Accuracy", xlabel="epoch", ylabel="top-1 accuracy (fraction)"), right.legend()
plt.show()

# %% [markdown]
# ## Where it goes wrong
# The run drew the confusion matrix on the test split into
# `confusion_matrix.png`; the counts are in the model card.

# %%
from IPython.display import Image as ShowImage, Markdown, display

display(ShowImage(filename=str(run.folder.path / "confusion_matrix.png")))

# %% [markdown]
# The test images of the most frequent confusion, found with the float
# Keras model (`run.model("float")`).

# %%
matrix = np.array(float_stage.confusion_matrix)
errors = matrix.copy()
np.fill_diagonal(errors, 0)
true_class, wrong_class = np.unravel_index(errors.argmax(), errors.shape)
inputs, truth = run.task.examples("test")
predicted = run.model("float").predict(inputs, verbose=0).argmax(-1)
confused = np.flatnonzero((truth == true_class) & (predicted == wrong_class))[:8]
figure, axes = plt.subplots(1, max(len(confused), 1), figsize=(12, 2.5), squeeze=False)
for axis, index in zip(axes.flat, confused):
    axis.imshow(data.test.images[index])
    axis.set_xticks([]), axis.set_yticks([])
figure.suptitle(f"{errors.max()} '{run.task.class_names[true_class]}' images predicted as "
                f"'{run.task.class_names[wrong_class]}'")
plt.show()

# %% [markdown]
# ## The model card
# `MODEL_CARD.md` is rendered from `model_card.json` after every stage: the
# data, the model, the figures and who it is for. Its start:

# %%
card_text = (run.folder.path / "MODEL_CARD.md").read_text()
display(Markdown("\n".join(card_text.splitlines()[:30])))

# %% [markdown]
# ## A SavedModel that takes a JPEG
# `run.export()` writes a new `saved_model/N` version (and the TFLite files
# notebook 04 looks at) and measures each. The serving signature decodes,
# resizes and normalises inside, so a server client posts image bytes and
# gets a label name back.

# %%
import io

from PIL import Image

from lepton_tf.keras import tf

run.export()
saved_model = run.folder.path / run.card.latest_saved_model()
serve = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
jpeg = io.BytesIO()
Image.fromarray(data.test.images[0]).save(jpeg, format="JPEG", quality=95)
answer = serve(images=tf.constant([jpeg.getvalue()]))
print("true:", run.task.class_names[data.test.labels[0]], "| served:", answer["classes"].numpy()[0].decode(),
      f"(p={answer['probabilities'].numpy().max():.3f})")

# %% [markdown]
# In Python, `run.predict` takes image files (or bytes) and gives the top
# classes with their probabilities, preprocessing them as the signature does.

# %%
print(run.predict([jpeg.getvalue()], top_k=3))
print(run.summary())
