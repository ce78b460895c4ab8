"""Shared fixtures: tiny generated image folders, a tiny config, one trained run."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CLASS_COLOURS = {"blue": (20, 40, 220), "green": (30, 200, 40), "red": (220, 30, 30)}


def write_image(path, colour, size=12, seed=0, mode="RGB", fmt=None):
    """Writes a noisy image dominated by `colour` (easy to learn) in the given mode/format."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


def make_image_folder(root, per_class=8, size=12, split_folders=False, classes=CLASS_COLOURS):
    """A class-per-folder data set of PNGs; with train/ and test/ when `split_folders`."""
    parts = {"train": per_class, "test": max(per_class // 2, 1)} if split_folders else {"": per_class}
    for part, count in parts.items():
        for name, colour in classes.items():
            for index in range(count):
                write_image(Path(root) / part / name / f"{index:03d}.png", colour, size, seed=hash((part, name, index)) % 2**32)
    return Path(root)


TINY_SETTINGS = [
    "data.image_size=12", "data.batch_size=8", "data.val_fraction=0.2", "data.test_fraction=0.25",
    "data.augment.crop_padding=2", "model.name=resnet", "model.width=4",
    "train.epochs=6", "train.optimizer=adamw", "train.learning_rate=0.01", "train.warmup_epochs=1",
    "train.weight_decay=0.0001", "train.verbose=0",
    "optimize.prune_epochs=2", "optimize.qat_epochs=1", "optimize.sparsity=0.5", "optimize.learning_rate=0.002",
    "optimize.qat_learning_rate=0.002",
    "export.latency_runs=3", "export.representative_examples=16", "export.eval_batch_size=16",
]


def card_json(run_dir):
    """A run's model_card.json as written (the JSON other tools read)."""
    return json.loads((Path(run_dir) / "model_card.json").read_text(encoding="utf-8"))


def as_sets(settings):
    """['a=1', 'b=2'] → ['--set', 'a=1', '--set', 'b=2']."""
    return [arg for setting in settings for arg in ("--set", setting)]


def start_python(*args, env=None):
    """Starts `python ARGS` with this checkout importable.

    Its stdout and stderr go to a file (`output_of` reads it): a pipe nobody
    reads while the test polls could fill up and stall the process.
    """
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    log = tempfile.NamedTemporaryFile("w+", prefix="lepton-process-", suffix=".log", delete=False)
    process = subprocess.Popen([sys.executable, *map(str, args)], cwd=REPO, env=environment,
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    process.log_path = Path(log.name)
    log.close()
    return process


def output_of(process, tail=4000):
    """The end of what a `start_python` process printed."""
    return process.log_path.read_text(errors="replace")[-tail:]


def wait_for(process, timeout):
    """Waits for a `start_python` process; kills it if it runs past `timeout`. Returns its output."""
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return output_of(process)


def start_lepton(*args, env=None):
    """Starts `python -m lepton_tf ARGS` as a real process of this checkout."""
    return start_python("-m", "lepton_tf", *args, env=env)


def kill_when(process, condition, timeout=180, interval=0.02):
    """SIGKILLs `process` as soon as `condition()` holds; fails if it ends or times out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            process.kill()
            process.wait()
            return
        if process.poll() is not None:
            raise AssertionError(f"process ended (rc {process.returncode}) before it could be killed:\n"
                                 f"{output_of(process)}")
        time.sleep(interval)
    process.kill()
    process.wait()
    raise AssertionError("the kill condition never held")


def link_subset(source, destination, train_per_class=30, test_per_class=10):
    """Symlinks the first N files a class (sorted) of a train/test image folder; nothing is copied."""
    from benchmarks.quick import image_slice

    return image_slice(source, destination, {"train": train_per_class, "test": test_per_class})


def tiny_config(source, *extra):
    """A config small enough that train → quantize runs in seconds."""
    from lepton_tf import config

    return config.load(None, [f"data.source={source}", *TINY_SETTINGS, *extra])


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("colours"), per_class=24)


@pytest.fixture(scope="session")
def quantized_run(tmp_path_factory, image_folder):
    """One run trained, pruned, QAT'ed and exported through the CLI, shared by read-only tests."""
    from lepton_tf.cli import main

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    sets = [arg for setting in TINY_SETTINGS for arg in ("--set", setting)]
    assert main(["train", str(run_dir), "--set", f"data.source={image_folder}", *sets]) == 0
    assert main(["quantize", str(run_dir)]) == 0
    return run_dir


POSITIVE = ["great", "wonderful", "moving", "brilliant", "fun", "charming"]
NEGATIVE = ["dull", "awful", "boring", "tedious", "bad", "messy"]
FILLER = ["the", "film", "is", "a", "story", "plot", "acting", "really", "quite", "and"]


def make_sentences(count, seed=0):
    """Sentences whose sentiment word decides the label (a task a tiny model learns)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        label = "positive" if index % 2 else "negative"
        words = list(rng.choice(FILLER, size=rng.integers(3, 9)))
        words.insert(int(rng.integers(0, len(words))), rng.choice(POSITIVE if index % 2 else NEGATIVE))
        rows.append((label, " ".join(words).capitalize() + "."))
    return rows


def write_table(path, rows, header=("label", "text"), delimiter="\t"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_text_folder(root, train=120, test=40):
    write_table(Path(root) / "train.tsv", make_sentences(train, seed=1))
    write_table(Path(root) / "test.tsv", make_sentences(test, seed=2))
    return Path(root)


TINY_TEXT_SETTINGS = [
    "data.batch_size=16", "data.val_fraction=0.15", "data.text.sequence_length=12", "data.text.vocabulary_size=64",
    "model.name=kim_cnn", "model.embedding_dim=8", "model.width=6",
    "train.epochs=6", "train.optimizer=adamw", "train.learning_rate=0.01", "train.warmup_epochs=1",
    "train.weight_decay=0.0001", "train.verbose=0",
    "optimize.prune_epochs=2", "optimize.qat_epochs=2", "optimize.sparsity=0.5", "optimize.learning_rate=0.002",
    "optimize.qat_learning_rate=0.002",
    "export.latency_runs=3", "export.representative_examples=32", "export.eval_batch_size=16",
]


@pytest.fixture(scope="session")
def text_folder(tmp_path_factory):
    return make_text_folder(tmp_path_factory.mktemp("sentences"))


@pytest.fixture(scope="session")
def quantized_text_run(tmp_path_factory, text_folder):
    """One text run trained, pruned, QAT'ed and exported through the CLI."""
    from lepton_tf.cli import main

    run_dir = tmp_path_factory.mktemp("runs") / "tiny_text"
    sets = [arg for setting in TINY_TEXT_SETTINGS for arg in ("--set", setting)]
    assert main(["train", str(run_dir), "--set", f"data.source={text_folder}", *sets]) == 0
    assert main(["quantize", str(run_dir)]) == 0
    return run_dir
