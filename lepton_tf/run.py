"""`Run`: the one place the chain train → prune → QAT → export → evaluate is orchestrated.

The CLI, the Makefile, the notebooks and the benchmarks all go through it.
A `Run` is a run folder (`saved_models/NAME/`) plus its config, and it loads
and decodes the data set at most once however many stages it runs.
"""

import contextlib
import logging
from pathlib import Path


from lepton_tf import config as config_lib
from lepton_tf import distribute, export_stage, stages
from lepton_tf.card import STAGE_ORDER
from lepton_tf.data import in_memory
from lepton_tf.data.preprocessing import VOCAB_FILE, load_preprocessing
from lepton_tf.data.sources import load_data
from lepton_tf.errors import DataError, RunFolderError
from lepton_tf.fileio import copy_file, remove_stale_temporaries
from lepton_tf.models.choice import choose, scale_text_epochs
from lepton_tf.report import write_report
from lepton_tf.run_folder import RunFolder
from lepton_tf.summary import summary_lines
from lepton_tf.tasks import new_task, reopen_task

log = logging.getLogger(__name__)

# What a fork copies: the float stage's record and model (`Run.fork`).
FLOAT_OUTPUTS = ("config.yaml", "labels.txt", VOCAB_FILE, "keras/float.weights.h5", *stages.STAGE_OUTPUTS["float"])


class Run:
    """A run folder and what is made in it.

    Example:
      >>> from lepton_tf import Run
      >>> run = Run.create("saved_models/flowers", data="photos/", overrides=["train.epochs=3"])
      >>> run.train().quantize()          # float model, then prune → QAT → export → evaluate
      >>> run.predict(["rose.jpg"])       # [[("rose", 0.97), ("tulip", 0.02), ...]]
      >>> run.card.artifacts["tflite/int8.tflite"].accuracy

    Every stage method returns the run, so calls chain. Errors a user can
    cause raise `lepton_tf.errors.LeptonError` with one clear message.
    """

    def __init__(self, run_dir, config, given=frozenset(), overrides=(), overwrite=False, arrays=None, command=""):
        """Use `Run.create` or `Run.open`."""
        self.folder = RunFolder(run_dir)
        self.config = config
        self._given = set(given)  # settings the user gave: the automatic model choice keeps them
        self._overrides = tuple(overrides)  # saved to config.yaml once a reopened run's stage succeeds
        self._overwrite = overwrite
        self._arrays = arrays  # in-memory (kind, inputs, labels, class_names), written into the folder by train()
        self._command = command
        self._task = None
        self._float_model = None  # loaded by predict() once, dropped when train() makes a new one

    # --- making and reopening ---------------------------------------------------------------------

    @classmethod
    def create(cls, run_dir, data=None, config=None, overrides=(), class_names=None, overwrite=False,
               command="Run.create"):
        """A new run in `run_dir` (nothing is written until `train()`).

        Args:
          run_dir: the run folder, e.g. "saved_models/flowers".
          data: a folder, "tfds:NAME" or "digits"; or in-memory `(images, labels)` (uint8
            [N, H, W, 3]) or `(texts, labels)` with `class_names`; None: the config's data.source.
          config: a `Config`, a YAML file, or None for the built-in defaults.
          overrides: "key=value" strings applied on top, e.g. ("train.epochs=3",).
          class_names: the class of each label index (in-memory data only).
          overwrite: let `train()` replace a finished run in `run_dir`.
          command: what made the run, for the model card.

        Raises:
          ConfigError, DataError: a bad setting, or in-memory data that does not fit.
        """
        data_settings, arrays = _data_settings(run_dir, data, class_names)
        loaded, given = _load_config(config, [*data_settings, *_as_list(overrides)])
        return cls(run_dir, loaded, given, overwrite=overwrite, arrays=arrays, command=command)

    @classmethod
    def open(cls, run_dir, overrides=()):
        """Reopens a trained run; `overrides` change its settings for the stages run next.

        The overrides are saved to the folder's config.yaml once a stage succeeds.

        Raises:
          RunFolderError: no such folder, or it holds no finished float model.
        """
        folder = RunFolder(run_dir)
        folder.require()
        overrides = _as_list(overrides)
        return cls(run_dir, folder.read_config(overrides), overrides=overrides)

    # --- the stages -------------------------------------------------------------------------------

    def train(self):
        """Trains the float model (resuming an interrupted training with the same settings).

        Raises:
          RunFolderError: the folder holds a finished run (create with `overwrite=True`), another
            process uses it, it is not a run folder, or an interrupted run had other settings.
        """
        strategy = distribute.make_strategy(self.config.train.strategy)  # before any other TensorFlow op
        chief = distribute.is_chief(self.config.train.strategy)
        folder = self.folder if chief else RunFolder(distribute.scratch_dir())
        overwrite = self._overwrite or not chief  # a worker's folder holds only its scratch copy of the outputs
        stages.refuse_foreign_folder(folder)  # before the lock, which would add its file to someone else's folder
        with folder.lock("train"):
            if not overwrite:
                stages.refuse_finished_run(folder)
            keep = self._write_arrays(folder)
            config, choice = choose(stages.with_absolute_source(self.config), self._given)
            data = None
            if choice.get("epochs_from_data"):  # text defaults: the epochs follow the sentence count
                data = load_data(config.data, folder.path)
                config, choice = scale_text_epochs(config, choice, len(data.train))
            stages.prepare_for_training(folder, config, overwrite, keep)
            remove_stale_temporaries(folder.path)
            self._train_float(folder, config, choice, strategy, data)
        if not chief:
            log.info("worker done; only the chief writes %s (this worker's outputs: %s)", self.folder.path,
                     folder.path)
            distribute.discard_scratch(folder.path)
        return self

    def _write_arrays(self, folder):
        """Writes in-memory data into the folder; returns the outputs a cleared folder keeps."""
        if self._arrays is None:
            return ()
        in_memory.write_in_memory(folder.output(in_memory.FOLDER), *self._arrays)
        return (in_memory.FOLDER,)

    def _train_float(self, folder, config, choice, strategy, data=None):
        stages.record_data_outputs(folder, config)
        task = new_task(load_data(config.data, folder.path) if data is None else data, config)
        folder.write_config(config)
        folder.write_labels(task.class_names)
        task.preprocessing.save(folder.path)
        card = stages.base_card(folder, config, task, choice, self._command)
        folder.write_card(card)
        with stages.recorded_failure(folder, card):
            _, result = stages.train_float(folder, config, task, card, strategy, self.folder.path)
            card.finish_stage("float", result)
            self._publish(folder, card, config)
        self.config, self._task, self._float_model = config, task, None

    def prune(self):
        """Prunes the float model to `optimize.sparsity` and fine-tunes it."""
        with self._stage("pruned") as (task, card):
            card.finish_stage("pruned", stages.prune(self.folder, self.config, task, card))
        return self

    def cluster(self):
        """Clusters the float (pcqat: pruned) model's kernels to `optimize.clusters` values and fine-tunes it."""
        with self._stage("clustered") as (task, card):
            card.finish_stage("clustered", stages.cluster(self.folder, self.config, task, card))
        return self

    def qat(self):
        """Quantization-aware training from the chain's last model before it (clustered, pruned or float)."""
        with self._stage("qat") as (task, card):
            card.finish_stage("qat", stages.quantization_aware_train(self.folder, self.config, task, card))
        return self

    def export(self):
        """Writes a new SavedModel version and the four TFLite files, then evaluates them."""
        with self._stage("export") as (task, card):
            models = export_stage.export(self.folder, self.config, task, card)
            export_stage.evaluate(self.folder, self.config, task, card, models)
            card.finish()
        return self

    def evaluate(self):
        """Runs every exported file on the test split again and records the figures."""
        with self._stage("evaluate") as (task, card):
            export_stage.evaluate(self.folder, self.config, task, card)
            card.finish()
        return self

    def robustness(self):
        """Runs every exported file on the perturbed test sets again: card, robustness.json, robustness.png."""
        with self._stage("robustness") as (task, card):
            export_stage.measure_robustness(self.folder, self.config, task, card)
            card.finish()
        return self

    def quantize(self):
        """The chain `optimize.method` makes: prune and/or cluster, then QAT, then export → evaluate.

        pqat: prune (when optimize.sparsity > 0) → PQAT; 2to4: 2:4 prune →
        PQAT; cluster: cluster → CQAT; pcqat: prune → cluster keeping the
        zeros → PCQAT; optimize.skip_quantize leaves QAT out. Holds the run's
        lock throughout and loads the data once. Once the whole chain has
        succeeded, the stages these settings no longer make (a pruned model
        when sparsity is now 0) are removed and the overrides saved.
        """
        self.folder.require()
        with self.folder.lock("quantize"), self._deferred_config():
            chain = config_lib.optimize_chain(self.config)
            if "pruned" in chain:
                self.prune()
            if "clustered" in chain:
                self.cluster()
            if "qat" in chain:
                self.qat()
            self.export()
            card = self.folder.read_card()
            for stage in ("pruned", "clustered", "qat"):
                if stage not in config_lib.optimize_chain(self.config):
                    stages.discard_stage(self.folder, card, stage)
            self._publish(self.folder, card, self.config)
        return self

    def fork(self, run_dir):
        """A new run in `run_dir` holding this run's float model and nothing made after it.

        What the float stage wrote (config, labels, vocabulary, weights,
        history) is copied, so other optimize settings can be tried from the
        same float model: `run.fork("saved_models/s75").quantize()` after
        `Run.open(...)` with overrides, or `Run.open(fork_dir, overrides=[...])`.

        Raises:
          RunFolderError: `run_dir` is not empty and not a run folder, or holds a finished run.
        """
        self.folder.require()
        target = RunFolder(run_dir)
        if target.path.resolve() == self.folder.path.resolve():
            raise RunFolderError(f"cannot fork {self.folder.path} into itself: name a new folder")
        stages.refuse_foreign_folder(target)
        with self.folder.lock("fork"), target.lock("fork"):
            stages.refuse_finished_run(target)
            target.remove_outputs()
            for relative in FLOAT_OUTPUTS:
                if self.folder.file(relative).is_file():
                    copy_file(self.folder.file(relative), target.output(relative))
            card = self.folder.read_card()
            card.name, card.stages, card.artifacts, card.started = target.name, {"float": card.stages["float"]}, {}, {}
            self._publish(target, card, self.config)
        return Run.open(run_dir)

    # --- results ----------------------------------------------------------------------------------

    @property
    def task(self):
        """The run's `Task` (its data, decoded once, and preprocessing): `run.task.dataset("train", run.config, True)`."""
        if self._task is None:
            self._task = self._load_task(self.folder.read_card())
        return self._task

    @property
    def card(self):
        """The run's `ModelCard` (read from model_card.json), or None before training."""
        return self.folder.read_card()

    def model(self, stage="float"):
        """The Keras model of `stage` ('float', 'pruned' or 'qat'), rebuilt from the config with its weights."""
        if stage not in STAGE_ORDER:
            raise RunFolderError(f"unknown stage {stage!r}: one of {', '.join(STAGE_ORDER)}")
        return self.folder.load_model(stage, self.config)

    def predict(self, inputs, top_k=3):
        """Top-k (class name, probability) pairs for each input, from the float Keras model.

        Args:
          inputs: image files or encoded image bytes (image runs), or sentences (text runs);
            one such input alone counts as a list of one. The run's preprocessing object
            decodes, resizes, normalises or tokenises them exactly as the exported files'
            signature and metadata do.
          top_k: pairs per input (at least 1).

        Raises:
          DataError: an input that is not a readable image or a sentence, or top_k below 1.
        """
        from lepton_tf.predict import top_k_pairs

        self.folder.require()
        inputs = [inputs] if isinstance(inputs, (str, bytes, Path)) else list(inputs)
        if not isinstance(top_k, int) or top_k < 1:
            raise DataError(f"top_k must be a whole number of at least 1, got {top_k!r}")
        if not inputs:
            return []
        model_inputs = self._reopened_preprocessing().model_inputs(inputs)
        if self._float_model is None:
            self._float_model = self.model("float")
        probabilities = self._float_model.predict(model_inputs, verbose=0)
        return top_k_pairs(probabilities, self.card.labels, top_k)

    def summary(self):
        """The few lines a command prints: accuracy per stage, and each exported file's figures."""
        self.folder.require()
        return "\n".join(summary_lines(self.card, self.folder.path))

    # --- plumbing ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _stage(self, name):
        """Holds the lock for one stage of a trained run: yields (task, card); records success or failure."""
        self.folder.require()  # a trained float model, else one clear message (before the lock writes anything)
        with self.folder.lock(name):
            if remove_stale_temporaries(self.folder.path):
                log.info("removed files an interrupted run left half-written in %s", self.folder.path)
            card = self.folder.read_card()
            stages.require_current(self.folder, card, self.config, "float")
            task = self.task
            card.status, card.stage = "running", name
            self.folder.write_card(card)
            with stages.recorded_failure(self.folder, card):
                yield task, card
                self._publish(self.folder, card, self.config)
            if self._overrides and not self._deferring:
                self.folder.write_config(self.config)

    _deferring = False

    @contextlib.contextmanager
    def _deferred_config(self):
        """Within the block, stages do not save overrides; the block saves them once it succeeds."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self._overrides:
            self.folder.write_config(self.config)

    def _load_task(self, card):
        """Loads and decodes the run's data with the preprocessing it recorded."""
        if card is None:
            raise RunFolderError(f"{self.folder.path} has no trained run yet: call train() first")
        stages.record_data_outputs(self.folder, self.config)
        data = load_data(self.config.data, self.folder.path)
        if data.class_names != self.folder.read_labels():
            raise RunFolderError(
                f"the classes in {self.config.data.source} no longer match {self.folder.file('labels.txt')}: "
                f"{data.class_names} vs {self.folder.read_labels()}")
        return reopen_task(data, card, self.folder.path)

    def _reopened_preprocessing(self):
        """The preprocessing object, without loading the data when this Run has not."""
        if self._task is not None:
            return self._task.preprocessing
        return load_preprocessing(self.card.input, self.folder.path)

    @staticmethod
    def _publish(folder, card, config):
        """Writes the card, then MODEL_CARD.md and confusion_matrix.png rendered from it."""
        folder.write_card(card)
        folder.output("MODEL_CARD.md")
        folder.output("confusion_matrix.png")
        write_report(folder.path, card, config)


def _as_list(overrides):
    """One "key=value" string alone counts as a list of one."""
    return [overrides] if isinstance(overrides, str) else list(overrides)


def _data_settings(run_dir, data, class_names):
    """The overrides `data` stands for, and in-memory data as (kind, inputs, labels, class_names) or None."""
    if data is None:
        return [], None
    if isinstance(data, (str, Path)):
        return [f"data.source={data}"], None
    arrays = in_memory.check_in_memory(data, class_names)
    return [f"data.source={Path(run_dir).resolve() / in_memory.FOLDER}", f"data.task={arrays[0]}",
            "data.text.text_column=text", "data.text.label_column=label"], arrays


def _load_config(config, overrides):
    """(validated Config, the dotted names the user gave) from a Config, a YAML path or None, plus overrides."""
    if not isinstance(config, config_lib.Config):
        return config_lib.load(config, overrides), config_lib.given_keys(config, overrides)
    defaults = config_lib.flatten(config_lib.Config())
    changed = {key for key, value in config_lib.flatten(config).items() if defaults.get(key) != value}
    values = config_lib.apply_overrides(config_lib.to_dict(config), overrides)
    return config_lib.validate(config_lib.from_dict(values)), changed | config_lib.given_keys(None, overrides)
