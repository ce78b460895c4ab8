"""A run folder (`saved_models/NAME/`): the record every stage reads and writes.

Data flows forward only: a stage reads what earlier stages left here
(config, labels, model card, Keras weights) and adds its own outputs.

Three rules keep a run folder safe to share and to re-run:
- Only what the project wrote is ever deleted. Every output is recorded in
  `.lepton/outputs.json` before it is written; clearing a run removes exactly
  those entries, and a non-empty folder that is not a run folder is refused.
- Nothing in the folder is executed. Models are rebuilt from `config.yaml`
  through the model registry (and the deterministic fold/QAT transforms), and
  only weights are read from `keras/STAGE.weights.h5`.
- One process at a time: every writing command holds an exclusive lock
  (`.lepton/lock`, released by the kernel even when the process is killed).
"""

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

from lepton_tf import config as config_lib
from lepton_tf.errors import RunFolderError
from lepton_tf.fileio import write_json, write_text

STATE_DIR = ".lepton"
OUTPUTS_FILE = f"{STATE_DIR}/outputs.json"
LOCK_FILE = f"{STATE_DIR}/lock"
# What runs made before outputs were recorded wrote (the only names cleared in such a folder).
LEGACY_OUTPUTS = ("keras", "tflite", "saved_model", "checkpoints", "logs", "backup", "history.csv",
                  "history_pruned.csv", "history_qat.csv", "curves.png", "vocab.txt", "labels.txt", "config.yaml",
                  "model_card.json", "cache", "data/digits")

_held_locks = {}  # resolved run folder -> [file object, depth]: the lock is re-entrant within a process


class RunFolder:
    """Paths and read/write helpers for one run folder."""

    def __init__(self, path):
        self.path = Path(path)

    @property
    def name(self):
        return self.path.name

    def file(self, relative):
        return self.path / relative

    # --- what the project wrote -------------------------------------------------------------------

    def output(self, relative):
        """Records `relative` (a file or a folder) as the project's, then returns its path: call before writing."""
        recorded = self.recorded_outputs()
        if relative not in recorded:
            write_json(self.file(OUTPUTS_FILE), sorted({*recorded, relative}))
        return self.file(relative)

    def recorded_outputs(self):
        """Relative paths of every file and folder the project wrote here."""
        path = self.file(OUTPUTS_FILE)
        if path.is_file():
            recorded = _read_json(path)
            if not isinstance(recorded, list) or not all(_inside(entry) for entry in recorded):
                raise RunFolderError(f"{path} is damaged (it must list paths inside the run folder); "
                                     f"nothing was deleted")
            return set(recorded)
        if self.is_legacy_run():
            return {name for name in LEGACY_OUTPUTS if self.file(name).exists()}
        return set()

    def is_legacy_run(self):
        return self.file("config.yaml").is_file() and self.file("model_card.json").is_file()

    def is_run_folder(self):
        return self.file(OUTPUTS_FILE).is_file() or self.is_legacy_run()

    def foreign_entries(self):
        """Entries of a non-empty folder that is not a run folder (what a new run would sit among)."""
        if not self.path.is_dir() or self.is_run_folder():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.name != STATE_DIR)

    def remove_outputs(self, keep=()):
        """Deletes every recorded output but `keep`; files the project did not write are never touched."""
        for relative in sorted(self.recorded_outputs() - set(keep), key=len, reverse=True):
            self.remove_output(relative)

    def remove_output(self, relative):
        """Deletes one output the project recorded (a file or a folder) and forgets it; others are left alone."""
        recorded = self.recorded_outputs()
        if relative not in recorded:
            return
        path = self.file(relative)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        _remove_empty_parents(path.parent, self.path)
        write_json(self.file(OUTPUTS_FILE), sorted(recorded - {relative}))

    # --- one process at a time --------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, command):
        """Holds the run folder's exclusive lock while the block runs (re-entrant in one process).

        Raises:
          RunFolderError: another process holds it (the message names its PID and command).
        """
        self.require_writable()
        key = str(self.path.resolve())
        if key in _held_locks:
            _held_locks[key][1] += 1
        else:
            _held_locks[key] = [self._acquire(command), 1]
        try:
            yield self
        finally:
            _held_locks[key][1] -= 1
            if _held_locks[key][1] == 0:
                _held_locks.pop(key)[0].close()  # closing the file releases the lock

    def _acquire(self, command):
        path = self.file(LOCK_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunFolderError(f"run folder {self.path} is in use by {holder}; wait for it to finish "
                                 f"(two commands on one run folder would mix their outputs)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} (lepton {command})")
        handle.flush()
        return handle

    # --- checks -----------------------------------------------------------------------------------

    def require(self):
        """Raises RunFolderError unless the folder holds a finished float training run."""
        if not self.path.is_dir():
            raise RunFolderError(
                f"run folder {self.path} not found; train it first: "
                f"`make train NAME={self.name}` or `lepton train {self.path}`")
        if not self.is_run_folder() and not self.file("model_card.json").is_file():
            raise RunFolderError(f"{self.path} is not a run folder (lepton never trained a model there); train one: "
                                 f"`make train NAME=...`, `lepton train RUN_DIR` or `Run.create(...).train()`")
        card = self.read_card()
        if not self.model_path("float").is_file() or card is None or "float" not in card.stages:
            status, stage = (card.status, card.stage) if card else ("unknown", "unknown")
            raise RunFolderError(
                f"run folder {self.path} has no finished float model (status: {status}, stage: "
                f"{stage}); run `lepton train {self.path}` again to finish or resume it")

    def require_writable(self):
        """Raises RunFolderError when the run folder cannot be created or written (read-only, not a folder)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path, prefix=".write-check."):
                pass
        except OSError as error:
            raise RunFolderError(f"cannot write to run folder {self.path}: {error.strerror or error}") from None

    # --- config, labels, card ---------------------------------------------------------------------

    def read_config(self, overrides=()):
        """The run's config with `--set` overrides applied (not yet saved)."""
        values = config_lib.read_yaml(self.file("config.yaml"))
        return config_lib.validate(config_lib.from_dict(config_lib.apply_overrides(values, overrides)))

    def write_config(self, config):
        write_text(self.output("config.yaml"), config_lib.dump(config))

    def read_labels(self):
        path = self.file("labels.txt")
        if not path.is_file():
            raise RunFolderError(f"{path} is missing: the run's class names are unknown; train the run again")
        return path.read_text(encoding="utf-8").splitlines()

    def write_labels(self, class_names):
        write_text(self.output("labels.txt"), labels_text(class_names))

    def read_card(self):
        """The run's `ModelCard`, or None when the folder has none yet."""
        from lepton_tf.card import ModelCard

        path = self.file("model_card.json")
        return ModelCard.from_dict(_read_json(path), path) if path.is_file() else None

    def write_card(self, card):
        """Writes `card` (a `ModelCard`) to model_card.json, atomically: the card's only writer."""
        write_json(self.output("model_card.json"), card.to_dict())

    def saved_model_versions(self):
        """The version numbers of the SavedModels in `saved_model/`, ascending (TF Serving serves the last)."""
        from lepton_tf.card import SAVED_MODEL_DIR

        folder = self.file(SAVED_MODEL_DIR)
        return sorted(int(entry.name) for entry in folder.iterdir()
                      if entry.name.isdigit() and (entry / "saved_model.pb").is_file()) if folder.is_dir() else []

    # --- models: weights only ---------------------------------------------------------------------

    def model_path(self, stage):
        """The stage's weights file (`keras/STAGE.h5` in runs made before weights-only saving)."""
        path, legacy = self.file(f"keras/{stage}.weights.h5"), self.file(f"keras/{stage}.h5")
        return legacy if legacy.is_file() and not path.is_file() else path

    def save_model(self, model, stage):
        """Saves a stage's weights (HDF5), atomically; the architecture comes from config.yaml."""
        from lepton_tf.fileio import atomic_path

        with atomic_path(self.output(f"keras/{stage}.weights.h5"), suffix=".weights.h5") as tmp:
            model.save_weights(str(tmp))

    def load_model(self, stage, config=None):
        """Rebuilds a stage's model from the config and loads its weights (no code from the folder runs).

        Args:
          stage: 'float', 'pruned', 'clustered' or 'qat'.
          config: the config to build from (default: the folder's config.yaml).

        Raises:
          RunFolderError: the weights file is missing or does not fit the configured architecture.
        """
        from lepton_tf.optimize.rebuild import build_stage_model

        path = self.model_path(stage)
        if not path.is_file():
            raise RunFolderError(f"{path} not found: run the '{stage}' stage first")
        config = config or self.read_config()
        model = build_stage_model(stage, config, self.read_card(), lambda source: self.load_model(source, config))
        try:
            model.load_weights(str(path))
        except (ValueError, OSError, KeyError) as error:
            raise RunFolderError(f"{path} does not hold weights for the architecture in "
                                 f"{self.file('config.yaml')} ({str(error).splitlines()[0][:200]})") from None
        return model


def labels_text(class_names):
    """The labels.txt format: one class name a line, in output order."""
    return "".join(f"{name}\n" for name in class_names)


def _read_json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path} is damaged ({error}); train the run again "
                             f"(`lepton train {path.parent} --overwrite`)") from None


def _inside(relative):
    """True for a plain relative path that stays inside the run folder (no '..', not absolute)."""
    parts = Path(relative).parts if isinstance(relative, str) else ("..",)
    return bool(parts) and not Path(relative).is_absolute() and ".." not in parts


def _remove_empty_parents(folder, root):
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


