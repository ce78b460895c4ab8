"""The model card: a typed record of a run, written to `model_card.json` by one writer.

Every stage adds its figures here; `MODEL_CARD.md` (`lepton_tf.report`) and the
summary a command prints are rendered from it. Files a run exports are keyed
by their path inside the run folder, which `saved_model_path` and
`tflite_path` spell (nowhere else does).

The JSON keeps the shape earlier runs wrote (cards without `schema_version`
read as version 1); fields a stage does not make are left out.
"""

import dataclasses
import typing

from lepton_tf.errors import RunFolderError

SCHEMA_VERSION = 2  # 1: cards written before the schema was versioned

SAVED_MODEL_DIR = "saved_model"
TFLITE_DIR = "tflite"
STAGE_ORDER = ("float", "pruned", "clustered", "qat")


def saved_model_path(version):
    """`saved_model/N`: TF Serving serves the highest version number in `saved_model/`."""
    return f"{SAVED_MODEL_DIR}/{version}"


def tflite_path(fmt):
    """`tflite/FORMAT.tflite`: float32, float16, dynamic, int8, or float32_sparse (optimize.method xnnpack_sparse)."""
    return f"{TFLITE_DIR}/{fmt}.tflite"


def tflite_metadata_path(fmt):
    """The readable dump of a TFLite file's metadata, beside it."""
    return f"{TFLITE_DIR}/{fmt}.metadata.json"


@dataclasses.dataclass
class StageResult:
    """One trained model (float, pruned, clustered or qat), measured in Keras on the test split."""

    accuracy: float
    epochs: int = 0
    train_seconds: float = 0.0
    settings: dict = dataclasses.field(default_factory=dict)  # the config fields this stage depends on
    val_accuracy: typing.Optional[float] = None  # of the kept epoch
    kept_epoch: typing.Optional[int] = None  # set when early stopping kept an epoch before the last (1-based)
    confusion_matrix: typing.Optional[list] = None  # [true class][predicted class] counts, test split
    # pruned (and qat, which reports the sparsity it kept)
    sparsity: typing.Optional[float] = None
    target_sparsity: typing.Optional[float] = None
    layer_sparsity: typing.Optional[dict] = None
    structure: typing.Optional[str] = None  # "2:4" (optimize.method 2to4) | "1x1 convolutions" (xnnpack_sparse)
    # clustered (and qat from it): distinct values allowed per kernel, and found in each
    clusters: typing.Optional[int] = None
    layer_clusters: typing.Optional[dict] = None
    # qat
    source: typing.Optional[str] = None
    scheme: typing.Optional[str] = None
    folded_batch_norms: typing.Optional[list] = None
    quantized_layers: typing.Optional[list] = None
    float_layers: typing.Optional[list] = None
    frozen_layers: typing.Optional[list] = None
    # how it was trained
    strategy: typing.Optional[str] = None
    replicas: typing.Optional[int] = None
    workers: typing.Optional[int] = None
    mixed_precision: typing.Optional[str] = None  # off | bfloat16 | float16 (true/false in older cards)
    jit_compile: typing.Optional[bool] = None


@dataclasses.dataclass
class Artifact:
    """One exported file (or SavedModel folder), measured by running the file itself."""

    format: str  # saved_model | tflite/float32 | tflite/float16 | tflite/dynamic | tflite/int8
    source: str  # the stage it was converted from
    input: typing.Optional[str] = None
    metadata: typing.Optional[bool] = None  # TFLite: MediaPipe-readable metadata attached
    mediapipe: typing.Optional[str] = None  # why MediaPipe Tasks cannot run it, when it cannot
    bytes: typing.Optional[int] = None
    gzip_bytes: typing.Optional[int] = None
    accuracy: typing.Optional[float] = None
    agreement: typing.Optional[float] = None  # top-1 equal to its source Keras model's
    examples: typing.Optional[int] = None
    confusion_matrix: typing.Optional[list] = None
    latency_ms_p50: typing.Optional[float] = None
    latency_ms_p90: typing.Optional[float] = None
    latency_threads: typing.Optional[int] = None
    latency_ms_2_threads: typing.Optional[dict] = None
    mediapipe_agreement: typing.Optional[float] = None
    mediapipe_keras_agreement: typing.Optional[float] = None
    mediapipe_accuracy: typing.Optional[float] = None
    mediapipe_examples: typing.Optional[int] = None
    mediapipe_input: typing.Optional[str] = None
    # What the file's kernels hold (`lepton_tf.export.weights`): zeros, 2:4 pattern, values per channel.
    weights: typing.Optional[dict] = None
    # Accuracy on perturbed copies of the test split (`lepton_tf.robustness`): per perturbation,
    # their mean, and mean / clean accuracy.
    robustness: typing.Optional[dict] = None


@dataclasses.dataclass
class ModelDetails:
    name: str = ""
    choice: dict = dataclasses.field(default_factory=dict)  # how model.name auto was resolved
    params: typing.Optional[int] = None
    transfer: typing.Optional[dict] = None  # pretrained backbones: weights and the two phases


@dataclasses.dataclass
class DataDetails:
    source: str = ""
    examples: dict = dataclasses.field(default_factory=dict)  # split -> count
    skipped: int = 0
    skipped_files: typing.Optional[list] = None  # image folders: the first 100, with the reason
    skipped_rows: typing.Optional[list] = None  # text files: the same for rows


@dataclasses.dataclass
class Usage:
    """Who the model is for (config `card:` section, or the defaults in `lepton_tf.config`)."""

    intended_use: str = ""
    out_of_scope_use: str = ""
    license: str = ""


@dataclasses.dataclass
class ModelCard:
    """Everything known about a run; `model_card.json` holds one."""

    name: str = ""
    task: str = ""  # image | text
    status: str = "running"  # running | done | failed
    stage: str = "float"  # the stage last started
    error: typing.Optional[str] = None
    labels: list = dataclasses.field(default_factory=list)
    input: dict = dataclasses.field(default_factory=dict)  # the preprocessing, as `describe()` gives it
    output: dict = dataclasses.field(default_factory=dict)
    model: ModelDetails = dataclasses.field(default_factory=ModelDetails)
    data: DataDetails = dataclasses.field(default_factory=DataDetails)
    usage: Usage = dataclasses.field(default_factory=Usage)
    created: str = ""  # UTC date and time the float model was trained
    command: str = ""  # what made it
    stages: typing.Dict[str, StageResult] = dataclasses.field(default_factory=dict)
    artifacts: typing.Dict[str, Artifact] = dataclasses.field(default_factory=dict)
    started: dict = dataclasses.field(default_factory=dict)  # settings of fine-tunes begun (resume checks)
    environment: dict = dataclasses.field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def finish_stage(self, stage, result):
        """Records a finished stage (replacing an earlier one) with status done."""
        self.stages[stage] = result
        self.stage = stage
        self.finish()

    def finish(self):
        self.status, self.error = "done", None

    def fail(self, error):
        self.status, self.error = "failed", f"{type(error).__name__}: {error}".splitlines()[0][:500]

    def latest_saved_model(self):
        """The card key of the newest SavedModel version, or None."""
        versions = [key for key, entry in self.artifacts.items() if entry.format == "saved_model"]
        return max(versions, key=lambda key: int(key.rsplit("/", 1)[-1]), default=None)

    def to_dict(self):
        """The JSON form (None fields of stages and files left out)."""
        data = dataclasses.asdict(self)
        for section in ("stages", "artifacts"):
            data[section] = {key: _without_none(value) for key, value in data[section].items()}
        for section in ("model", "data"):
            data[section] = _without_none(data[section])
        return data

    @classmethod
    def from_dict(cls, data, path="model_card.json"):
        """Reads the JSON form.

        Raises:
          RunFolderError: the card is not an object of this schema, or comes from a newer version.
        """
        if not isinstance(data, dict):
            raise RunFolderError(f"{path} is damaged (not a JSON object); train the run again")
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise RunFolderError(f"{path} has schema version {version!r}; this lepton_tf reads up to "
                                 f"{SCHEMA_VERSION}: upgrade lepton_tf")
        try:
            _check_shape(data)
            fields = _known(cls, data)
            fields["model"] = ModelDetails(**_known(ModelDetails, data.get("model", {})))
            fields["data"] = DataDetails(**_known(DataDetails, data.get("data", {})))
            fields["usage"] = Usage(**_known(Usage, data.get("usage", {})))
            fields["stages"] = {k: StageResult(**_known(StageResult, v)) for k, v in data.get("stages", {}).items()}
            fields["artifacts"] = {k: Artifact(**_known(Artifact, v)) for k, v in data.get("artifacts", {}).items()}
            fields["schema_version"] = SCHEMA_VERSION
            return cls(**fields)
        except (TypeError, AttributeError, ValueError) as error:
            raise RunFolderError(f"{path} is damaged ({str(error)[:200]}); train the run again") from None


def _check_shape(data):
    """Raises TypeError where the JSON does not have the card's shape (what the fields' types rely on)."""
    if not (isinstance(data.get("labels", []), list) and all(isinstance(n, str) for n in data.get("labels", []))):
        raise TypeError("labels must be a list of class names")
    for section in ("stages", "artifacts"):
        entries = data.get(section, {})
        if not (isinstance(entries, dict) and all(isinstance(entry, dict) for entry in entries.values())):
            raise TypeError(f"{section} must map names to objects")
    for name, stage in data.get("stages", {}).items():
        if not isinstance(stage.get("accuracy"), (int, float)):
            raise TypeError(f"stages.{name}.accuracy must be a number")


def _known(cls, data):
    """The entries of `data` that are fields of dataclass `cls` (keys of other versions are dropped)."""
    names = {field.name for field in dataclasses.fields(cls)}
    return {key: value for key, value in dict(data).items() if key in names}


def _without_none(values):
    return {key: value for key, value in values.items() if value is not None}
