"""A run folder (`saved_models/NAME/`): the record every stage reads and writes.

Data flows forward only: a stage reads what earlier stages left here
(config, labels, model card, Keras models) and adds its own outputs.
"""

import json
import tempfile
import warnings
from pathlib import Path

from lepton_tf import config as config_lib
from lepton_tf.errors import RunFolderError
from lepton_tf.fileio import atomic_path, write_json, write_text


class RunFolder:
    """Paths and read/write helpers for one run folder."""

    def __init__(self, path):
        self.path = Path(path)

    @property
    def name(self):
        return self.path.name

    def file(self, relative):
        return self.path / relative

    def require(self):
        """Raises RunFolderError unless the folder holds a finished float training run."""
        if not self.path.is_dir():
            raise RunFolderError(
                f"run folder {self.path} not found; train it first: "
                f"`make train NAME={self.name}` or `lepton train {self.path}`")
        card = self.read_card()
        if not self.model_path("float").is_file() or "float" not in card.get("stages", {}):
            status = card.get("status", "unknown")
            raise RunFolderError(
                f"run folder {self.path} has no finished float model (status: {status}, stage: "
                f"{card.get('stage', 'unknown')}); run `lepton train {self.path}` again to finish or resume it")

    def require_writable(self):
        """Raises RunFolderError when the run folder cannot be created or written (read-only, not a folder)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path, prefix=".write-check."):
                pass
        except OSError as error:
            raise RunFolderError(f"cannot write to run folder {self.path}: {error.strerror or error}") from None

    def read_config(self, overrides=()):
        """The run's config with `--set` overrides applied (not yet saved)."""
        values = config_lib.read_yaml(self.file("config.yaml"))
        return config_lib.from_dict(config_lib.apply_overrides(values, overrides))

    def write_config(self, config):
        write_text(self.file("config.yaml"), config_lib.dump(config))

    def read_labels(self):
        return self.file("labels.txt").read_text(encoding="utf-8").splitlines()

    def write_labels(self, class_names):
        write_text(self.file("labels.txt"), labels_text(class_names))

    def read_card(self):
        path = self.file("model_card.json")
        return json.loads(path.read_text()) if path.is_file() else {}

    def write_card(self, card):
        write_json(self.file("model_card.json"), card)

    def update_card(self, updates):
        """Deep-merges `updates` into model_card.json and writes it atomically."""
        card = self.read_card()
        _deep_merge(card, updates)
        self.write_card(card)
        return card

    def model_path(self, stage):
        return self.file(f"keras/{stage}.h5")

    def save_model(self, model, stage):
        """Saves a stage's Keras model as HDF5, atomically, without optimizer state."""
        # HDF5 because TF-MOT documents loading pruned and QAT models from it
        # (tf-keras warns that the format is legacy; the warning is expected).
        with atomic_path(self.model_path(stage), suffix=".h5") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model.save(str(tmp), include_optimizer=False, save_format="h5")

    def load_model(self, stage):
        """Loads a stage's Keras model (QAT models inside TF-MOT's quantize scope)."""
        from lepton_tf.keras import keras
        from lepton_tf.optimize.qat import load_scope

        path = self.model_path(stage)
        if not path.is_file():
            raise RunFolderError(f"{path} not found: run the '{stage}' stage first")
        with load_scope():
            return keras.models.load_model(str(path), compile=False)


def labels_text(class_names):
    """The labels.txt format: one class name a line, in output order."""
    return "".join(f"{name}\n" for name in class_names)


def _deep_merge(target, updates):
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
