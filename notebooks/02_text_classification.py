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
# This notebook trains text classifiers on SST-2 (sentence sentiment) from
# `../shared/data/sst2` with `lepton_tf.Run`. Each run learns its vocabulary
# from the training split: a word vocabulary, or a keras-nlp WordPiece one.
# It shows what the two tokenizers produce, trains the three text models
# (average word embedding, Kim-style CNN, small Transformer), compares them,
# and lists sentences the best one gets wrong. Set `DATA` to
# `../../shared/data/trec` for TREC question types.
# **Quick mode** (`LEPTON_QUICK=1`, what CI runs) trains each model for one epoch.

# %%
import os

QUICK = os.environ.get("LEPTON_QUICK", "0") == "1"
DATA = "../../shared/data/sst2"
EPOCHS = 1 if QUICK else 4
BASE = ["data.batch_size=50", "data.text.sequence_length=56",
        "train.optimizer=adamw", "train.learning_rate=0.003", "train.schedule=cosine",
        "train.weight_decay=0.0001", "train.label_smoothing=0", "train.verbose=0", f"train.epochs={EPOCHS}"]
MODELS = {
    "average_embedding": ["model.embedding_dim=32", "model.width=32", "model.dropout=0.3"],
    "kim_cnn": ["model.embedding_dim=64", "model.width=64", "model.dropout=0.5"],
    "transformer": ["model.embedding_dim=64", "model.width=128", "model.num_layers=2", "model.num_heads=2",
                    "model.dropout=0.1", "train.learning_rate=0.001"],
}

# %%
import numpy as np

from lepton_tf import Run


def train(name, overrides):
    """One run, what `make train DATA=… MODEL=…` does; re-running the notebook replaces it."""
    return Run.create(f"../saved_models/notebook_02_{name}", data=DATA, overrides=BASE + overrides,
                      overwrite=True).train()


# %% [markdown]
# ## Two vocabularies learned from the training split
# The regex word tokenizer (lower-case words, `<START>` first, the form
# phones run; the default) and keras-nlp's WordPiece, which splits rare words
# into pieces. Each run learns its own, with the average-embedding model.

# %%
words = train("average_embedding", ["model.name=average_embedding"] + MODELS["average_embedding"])
pieces = train("wordpiece", ["model.name=average_embedding"] + MODELS["average_embedding"]
               + ["data.text.tokenizer=wordpiece", "data.text.vocabulary_size=4000"])
data = words.task.data
print(f"classes {words.task.class_names};", words.card.data.examples, "sentences")

# %%
word_tokenizer = words.task.preprocessing.tokenizer
piece_tokenizer = pieces.task.preprocessing.tokenizer
print("word vocabulary:", len(word_tokenizer.vocabulary), "| wordpiece vocabulary:", len(piece_tokenizer.vocabulary))
sentences = data.test.texts[:3]
word_ids = words.task.preprocessing.model_inputs(sentences)
piece_ids = pieces.task.preprocessing.model_inputs(sentences)
for sentence, ids, p_ids in zip(sentences, word_ids, piece_ids):
    print("\n", sentence)
    print("  words:     ", [word_tokenizer.vocabulary[i] for i in ids if i != word_tokenizer.pad_id])
    print("  wordpieces:", [piece_tokenizer.vocabulary[i] for i in p_ids if i != piece_tokenizer.pad_id])
for name, run in (("words", words), ("wordpieces", pieces)):
    print(f"average embedding on {name}: test accuracy {run.card.stages['float'].accuracy:.4f}")

# %% [markdown]
# ## Three models, one pipeline
# All three use the word tokenizer (the average-embedding run above is the
# first); the figures come from each run's model card.

# %%
runs = {"average_embedding": words}
for name in ("kim_cnn", "transformer"):
    runs[name] = train(name, [f"model.name={name}"] + MODELS[name])

print(f"{'model':18} {'parameters':>10} {'val acc.':>9} {'test acc.':>9} {'seconds':>8}")
for name, run in runs.items():
    card = run.card
    float_stage = card.stages["float"]
    print(f"{name:18} {card.model.params:10,d} {float_stage.val_accuracy:9.4f} "
          f"{float_stage.accuracy:9.4f} {float_stage.train_seconds:8.1f}")

# %%
import matplotlib.pyplot as plt

names = list(runs)
figure, axis = plt.subplots(figsize=(7, 4))
axis.bar(names, [runs[n].card.stages["float"].accuracy * 100 for n in names])
axis.set(title="Test accuracy by model", xlabel="model", ylabel="test accuracy (%)",
         ylim=(40, 100))
plt.show()

# %% [markdown]
# ## Sentences the best model gets wrong
# Chosen on the validation split, shown on test. `run.predict` takes raw
# sentences and tokenises them as the run's SavedModel does.

# %%
best = max(runs, key=lambda n: runs[n].card.stages["float"].val_accuracy)
answers = runs[best].predict(data.test.texts, top_k=1)
said, confidence = [a[0][0] for a in answers], np.array([a[0][1] for a in answers])
truth = [runs[best].task.class_names[label] for label in data.test.labels]
wrong = np.flatnonzero([s != t for s, t in zip(said, truth)])
print(f"{best}: {len(wrong)} of {len(truth)} test sentences wrong; the most confident mistakes:")
for index in wrong[np.argsort(-confidence[wrong])][:8]:
    print(f"  [{truth[index]} → {said[index]} {confidence[index]:.2f}] {data.test.texts[index]}")
