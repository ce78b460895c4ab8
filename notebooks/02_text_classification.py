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
# # 02 — Text classification: vocabularies, tokens and three models
#
# This notebook loads SST-2 (sentence sentiment) from `../shared/data/sst2`,
# learns a word vocabulary and a keras-nlp WordPiece vocabulary from the
# training split, shows what the tokenizers produce, trains the three text
# models (average word embedding, Kim-style CNN, small Transformer), compares
# them, and lists sentences the best one gets wrong. Set `DATA` to
# `../../shared/data/trec` for TREC question types.
# **Quick mode** (`LEPTON_QUICK=1`, what CI runs) trains each model for one epoch.

# %%
import os

QUICK = os.environ.get("LEPTON_QUICK", "0") == "1"
DATA = "../../shared/data/sst2"
EPOCHS = 1 if QUICK else 4
BASE = [f"data.source={DATA}", "data.batch_size=50", "data.text.sequence_length=56",
        "train.optimizer=adamw", "train.learning_rate=0.003", "train.schedule=cosine",
        "train.weight_decay=0.0001", "train.label_smoothing=0", "train.verbose=0", f"train.epochs={EPOCHS}"]

# %%
import numpy as np

from lepton_tf import config as config_lib
from lepton_tf.data.sources import load_data
from lepton_tf.data.tokenizers import RegexTokenizer, WordPieceTokenizer
from lepton_tf.keras import tf

config = config_lib.load(None, BASE)
data = load_data(config.data, "../saved_models/notebook_02")
print(f"classes {data.class_names};", {s: len(getattr(data, s)) for s in ("train", "val", "test")}, "sentences")

# %% [markdown]
# ## Two vocabularies learned from the training split
# The regex word tokenizer (lower-case words, `<START>` first, the form
# phones run) and keras-nlp's WordPiece, which splits rare words into pieces.

# %%
words = RegexTokenizer.learn(data.train.texts, 10000, 1, 16)
pieces = WordPieceTokenizer.learn(data.train.texts, 4000, 1, 16)
print("word vocabulary:", len(words.vocabulary), "| wordpiece vocabulary:", len(pieces.vocabulary))
for sentence in data.test.texts[:3]:
    ids = words(tf.constant([sentence])).numpy()[0]
    piece_ids = pieces(tf.constant([sentence])).numpy()[0]
    print("\n", sentence)
    print("  words:     ", [words.vocabulary[i] for i in ids if i])
    print("  wordpieces:", [pieces.vocabulary[i] for i in piece_ids if i])

# %% [markdown]
# ## Three models, one pipeline
# Each run is what `make train DATA=… MODEL=…` does; the figures come from
# each run's model card.

# %%
from lepton_tf import stages

MODELS = {
    "average_embedding": ["model.embedding_dim=32", "model.width=32", "model.dropout=0.3"],
    "kim_cnn": ["model.embedding_dim=64", "model.width=64", "model.dropout=0.5"],
    "transformer": ["model.embedding_dim=64", "model.width=128", "model.num_layers=2", "model.num_heads=2",
                    "model.dropout=0.1", "train.learning_rate=0.001"],
}
cards = {}
for name, settings in MODELS.items():
    run_config = config_lib.load(None, BASE + [f"model.name={name}"] + settings)
    cards[name] = stages.train(f"../saved_models/notebook_02_{name}", run_config, overwrite=True)

print(f"{'model':18} {'parameters':>10} {'val acc.':>9} {'test acc.':>9} {'seconds':>8}")
for name, card in cards.items():
    float_stage = card["stages"]["float"]
    print(f"{name:18} {card['model']['params']:10,d} {float_stage['val_accuracy']:9.4f} "
          f"{float_stage['accuracy']:9.4f} {float_stage['train_seconds']:8.1f}")

# %%
import matplotlib.pyplot as plt

names = list(cards)
figure, axis = plt.subplots(figsize=(7, 4))
axis.bar(names, [cards[n]["stages"]["float"]["accuracy"] * 100 for n in names])
axis.set(title="Test accuracy by model", xlabel="model", ylabel="test accuracy (%)",
         ylim=(40, 100))
plt.show()

# %% [markdown]
# ## Sentences the best model gets wrong
# Chosen on the validation split, shown on test.

# %%
from lepton_tf.run_folder import RunFolder
from lepton_tf.tasks import reopen_task

best = max(cards, key=lambda n: cards[n]["stages"]["float"]["val_accuracy"])
run = RunFolder(f"../saved_models/notebook_02_{best}")
task = reopen_task(data, run, run.read_config())
probabilities = run.load_model("float").predict(task.examples("test")[0], verbose=0)
wrong = np.flatnonzero(probabilities.argmax(-1) != data.test.labels)
print(f"{best}: {len(wrong)} of {len(data.test)} test sentences wrong; the most confident mistakes:")
for index in wrong[np.argsort(-probabilities[wrong].max(-1))][:8]:
    said = data.class_names[probabilities[index].argmax()]
    print(f"  [{data.class_names[data.test.labels[index]]} → {said} {probabilities[index].max():.2f}] "
          f"{data.test.texts[index]}")
