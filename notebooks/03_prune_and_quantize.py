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
# # 03 — Prune and quantize: schedules, sparsity, PQAT vs PTQ, accuracy vs size
#
# Starting from one trained float model, this notebook prunes copies of it to
# 50% and 75% sparsity, shows the schedule and the sparsity each layer
# reaches, compares pruning-preserving quantization-aware training (PQAT)
# with plain post-training quantization (PTQ), and plots accuracy against
# file size for every exported format — each point measured by running that
# `.tflite` file on the test split.
# **Quick mode** (`LEPTON_QUICK=1`, what CI runs) uses short schedules.

# %%
import os
import shutil
from pathlib import Path

QUICK = os.environ.get("LEPTON_QUICK", "0") == "1"
ROOT = Path("../saved_models/notebook_03")
TRAIN = ["train.verbose=0", "export.latency_runs=10"] + (["train.epochs=4"] if QUICK else [])
STAGE_EPOCHS = ["optimize.prune_epochs=2", "optimize.qat_epochs=2"] if QUICK else []

# %%
import matplotlib.pyplot as plt
import numpy as np

from lepton_tf import Run

float_run = Run.create(ROOT / "float", config="../configs/default.yaml", overrides=TRAIN + STAGE_EPOCHS,
                       overwrite=True).train()  # re-running the tutorial replaces its own run
print("float test accuracy:", float_run.card.stages["float"].accuracy)

# %% [markdown]
# ## The pruning schedule
# Sparsity rises along a polynomial (cubic) curve and reaches its target two
# thirds of the way through the pruning fine-tune, leaving the rest to recover.

# %%
from lepton_tf.keras import tfmot

steps = 300
figure, axis = plt.subplots(figsize=(7, 4))
for target in (0.5, 0.75):
    schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, target, begin_step=0, end_step=2 * steps // 3, frequency=10)
    axis.plot(range(steps), [float(schedule(step)[1]) for step in range(steps)], label=f"target {target:.0%}")
axis.set(title="Polynomial-decay pruning schedule", xlabel="optimizer step", ylabel="sparsity (fraction of zeros)")
axis.legend()
plt.show()

# %% [markdown]
# ## Prune forks of the float model
# Two sparsity levels with PQAT, and one 50% fork that skips QAT so its int8
# file comes from post-training quantization. `float_run.fork(folder)` starts a
# new run folder holding the same float model; each fork is reopened with its
# own settings (`Run.open(folder, overrides)`), and `quantize()` runs what
# `make quantize` does: prune → QAT → export → evaluate every file.

# %%
VARIANTS = {"sparsity 50%, PQAT": (0.5, False), "sparsity 75%, PQAT": (0.75, False),
            "sparsity 50%, PTQ": (0.5, True)}
cards = {}
for label, (sparsity, skip_qat) in VARIANTS.items():
    run_dir = ROOT / label.replace(" ", "_").replace(",", "").replace("%", "")
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh fork each time the notebook runs
    float_run.fork(run_dir)
    overrides = [f"optimize.sparsity={sparsity}", f"optimize.skip_quantize={str(skip_qat).lower()}"]
    cards[label] = Run.open(run_dir, overrides).quantize().card  # prune → QAT (unless skipped) → export

# %%
layers = list(cards["sparsity 50%, PQAT"].stages["pruned"].layer_sparsity)
positions = np.arange(len(layers))
figure, axis = plt.subplots(figsize=(10, 4))
for offset, label in zip((-0.2, 0.2), ("sparsity 50%, PQAT", "sparsity 75%, PQAT")):
    per_layer = cards[label].stages["pruned"].layer_sparsity
    axis.bar(positions + offset, [per_layer[name] * 100 for name in layers], 0.4, label=label.split(",")[0])
axis.set(title="Zeros per layer after pruning (stripped weights)", xlabel="layer", ylabel="zeros (% of weights)",
         xticks=positions)
axis.set_xticklabels(layers, rotation=60, ha="right")
axis.legend()
plt.show()

# %% [markdown]
# ## PQAT vs PTQ for the int8 file

# %%
for label, card in cards.items():
    int8 = card.artifacts["tflite/int8.tflite"]
    print(f"{label:20}  int8 from {int8.source:6}  accuracy {int8.accuracy:.4f}  "
          f"gzip {int8.gzip_bytes / 1e3:6.1f} KB")

# %% [markdown]
# ## Accuracy against size, every exported file
# gzip size is what a download or an app bundle costs; zeros from pruning
# only shrink a file once compressed. float32, float16 and dynamic files are
# post-training conversions of the float model (the same for every variant);
# the int8 files carry each variant's pruning and quantization.

# %%
formats = ["float32", "float16", "dynamic", "int8"]
markers = dict(zip(formats, "osD^"))
figure, axis = plt.subplots(figsize=(8, 5))
for index, (label, card) in enumerate(cards.items()):
    points = [card.artifacts[f"tflite/{fmt}.tflite"] for fmt in formats]
    colour = f"C{index}"
    axis.plot([p.gzip_bytes / 1e3 for p in points], [p.accuracy * 100 for p in points], ":", color=colour,
              alpha=0.5)
    for fmt, point in zip(formats, points):
        axis.scatter(point.gzip_bytes / 1e3, point.accuracy * 100, marker=markers[fmt], color=colour,
                     label=f"{label} · {fmt}" if fmt == "int8" else None)
axis.set(title="Test accuracy vs compressed file size", xlabel="gzip size (KB, log scale)",
         ylabel="test accuracy (%)")
axis.set_xscale("log")
axis.xaxis.set_major_formatter(plt.FuncFormatter(lambda value, _: f"{value:g}"))
axis.legend(fontsize=8, title="int8 files (other markers: ○ float32, □ float16, ◇ dynamic)", title_fontsize=8)
plt.show()
