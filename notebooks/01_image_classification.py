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
# This notebook loads an image folder, looks at what the augmentation pipeline
# feeds the model, trains a small ResNet, reads its learning curves and
# confusion matrix, and exports a SavedModel that answers a JPEG with a label.
#
# It uses the built-in digits data set (written once as an image folder), or
# `../shared/data/cifar10` when present and `LEPTON_QUICK` is not set.
# **Quick mode** (`LEPTON_QUICK=1`, what CI runs) trains for 2 epochs.

# %%
import os
from pathlib import Path

QUICK = os.environ.get("LEPTON_QUICK", "0") == "1"
CIFAR = Path("../../shared/data/cifar10")
RECIPE = "../configs/cifar10.yaml" if CIFAR.is_dir() and not QUICK else "../configs/default.yaml"
RUN_DIR = Path("../saved_models/notebook_01")
OVERRIDES = ["train.epochs=2", "train.verbose=0"] if QUICK else ["train.verbose=2"]
if CIFAR.is_dir() and not QUICK:
    OVERRIDES.append(f"data.source={CIFAR}")

# %%
import matplotlib.pyplot as plt
import numpy as np

from lepton_tf import config as config_lib
from lepton_tf import stages
from lepton_tf.data.sources import load_data
from lepton_tf.tasks import new_task

config = config_lib.load(RECIPE, OVERRIDES)
data = load_data(config.data, "../saved_models/notebook_01_data")  # the built-in digits are written there
task = new_task(data, config)
print(f"{len(data.class_names)} classes: {data.class_names}")
print({split: len(getattr(data, split)) for split in ("train", "val", "test")}, "examples;",
      len(data.skipped), "files skipped")

# %% [markdown]
# ## What the model sees
# One training batch after random crop, flip and the other augmentations in
# the recipe, un-normalised back to pixels for display.

# %%
images, labels = next(iter(task.dataset("train", config, training=True)))
mean, std = np.array(task.normalization.mean), np.array(task.normalization.std)
pixels = np.clip(images.numpy() * std + mean, 0, 255).astype(np.uint8)
figure, axes = plt.subplots(3, 8, figsize=(12, 5))
for axis, image, label in zip(axes.flat, pixels, labels.numpy()):
    axis.imshow(image)
    axis.set_title(data.class_names[int(label.argmax())], fontsize=9)
    axis.set_xticks([]), axis.set_yticks([])
figure.suptitle(f"Augmented training batch ({config.data.image_size}x{config.data.image_size} pixels)")
plt.show()

# %% [markdown]
# ## Train
# `stages.train` is what `make train` runs: it writes the run folder
# (config, labels, Keras weights, history, model card). A folder that already
# holds a trained run is refused unless `overwrite=True` — what re-running
# this tutorial needs (only files lepton wrote are replaced).

# %%
card = stages.train(RUN_DIR, config, overwrite=True)
print("test accuracy:", card["stages"]["float"]["accuracy"], "in", card["stages"]["float"]["train_seconds"], "s")

# %%
from lepton_tf.train import read_history

history = read_history(RUN_DIR / "history.csv")
epochs = np.arange(1, len(history["loss"]) + 1)
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
left.plot(epochs, history["loss"], label="train"), left.plot(epochs, history["val_loss"], label="validation")
left.set(title="Loss", xlabel="epoch", ylabel="cross-entropy (nats)"), left.legend()
right.plot(epochs, history["accuracy"], label="train"), right.plot(epochs, history["val_accuracy"], label="validation")
right.set(title="Accuracy", xlabel="epoch", ylabel="top-1 accuracy (fraction)"), right.legend()
plt.show()

# %% [markdown]
# ## Where it goes wrong
# The confusion matrix on the test split, then the test images of the most
# frequent confusion.

# %%
from sklearn.metrics import confusion_matrix

from lepton_tf.run_folder import RunFolder

model = RunFolder(RUN_DIR).load_model("float")
examples, truth = task.examples("test")
predicted = model.predict(examples, verbose=0).argmax(-1)
matrix = confusion_matrix(truth, predicted, labels=range(len(data.class_names)))
figure, axis = plt.subplots(figsize=(6, 5))
shown = axis.imshow(matrix, cmap="Blues")
axis.set(title="Confusion matrix (test split)", xlabel="predicted class", ylabel="true class",
         xticks=range(len(data.class_names)), yticks=range(len(data.class_names)))
axis.set_xticklabels(data.class_names, rotation=90), axis.set_yticklabels(data.class_names)
figure.colorbar(shown, label="test images (count)")
plt.show()

# %%
errors = matrix.copy()
np.fill_diagonal(errors, 0)
true_class, wrong_class = np.unravel_index(errors.argmax(), errors.shape)
confused = np.flatnonzero((truth == true_class) & (predicted == wrong_class))[:8]
figure, axes = plt.subplots(1, max(len(confused), 1), figsize=(12, 2.5), squeeze=False)
for axis, index in zip(axes.flat, confused):
    axis.imshow(data.test.images[index])
    axis.set_xticks([]), axis.set_yticks([])
figure.suptitle(f"{errors.max()} '{data.class_names[true_class]}' images predicted as "
                f"'{data.class_names[wrong_class]}'")
plt.show()

# %% [markdown]
# ## A SavedModel that takes a JPEG
# The serving signature decodes, resizes and normalises inside, so a server
# client posts image bytes and gets a label name back.

# %%
import io

from PIL import Image

from lepton_tf.export.saved_model import save_module
from lepton_tf.keras import tf

save_module(task.serving_module(model, config), RUN_DIR / "saved_model" / "1")
serve = tf.saved_model.load(str(RUN_DIR / "saved_model" / "1")).signatures["serving_default"]
jpeg = io.BytesIO()
Image.fromarray(data.test.images[0]).save(jpeg, format="JPEG", quality=95)
answer = serve(images=tf.constant([jpeg.getvalue()]))
print("true:", data.class_names[data.test.labels[0]], "| served:", answer["classes"].numpy()[0].decode(),
      f"(p={answer['probabilities'].numpy().max():.3f})")
