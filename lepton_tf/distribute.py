"""`tf.distribute` from the config: which strategy, how many replicas, and which process writes the run folder.

`train.strategy`:
- `default`: one device (the first GPU if there is one, else the CPU).
- `mirrored`: every local GPU (or logical CPU device), one process.
- `multi_worker`: `MultiWorkerMirroredStrategy` over the machines `TF_CONFIG`
  names; every worker runs the same `lepton train` command. The chief
  (`task.type == "chief"`, or worker 0 when the cluster has no chief) writes
  the run folder; the others write to a scratch folder (`LEPTON_WORKER_DIR`,
  or a temporary one that is removed at the end).
"""

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from lepton_tf.errors import ConfigError

log = logging.getLogger(__name__)
WORKER_DIR_VARIABLE = "LEPTON_WORKER_DIR"
_STRATEGIES = {}  # name → the process's one instance


def tf_config():
    """The parsed `TF_CONFIG` environment variable ({} when unset).

    Raises:
      ConfigError: it is set but is not a JSON object with a cluster and a task.
    """
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {error}") from None
    if not isinstance(parsed, dict) or "cluster" not in parsed or "task" not in parsed:
        raise ConfigError('TF_CONFIG needs "cluster" and "task", e.g. {"cluster": {"worker": ["host1:12345", '
                          '"host2:12345"]}, "task": {"type": "worker", "index": 0}}')
    return parsed


def make_strategy(name):
    """Returns the strategy `train.strategy` names, one instance a process.

    Create it before any other TensorFlow op (`MultiWorkerMirroredStrategy`
    configures collective ops at start-up). Stages in one process share the
    instance: a second `MirroredStrategy` restarts the collective instance
    keys, and its all-reduces then collide with the first one's ("Collective
    ops is aborted by: Shape mismatch in the collective instance 100").

    Raises:
      ConfigError: `multi_worker` without `TF_CONFIG`, or an unknown name.
    """
    from lepton_tf.keras import tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name not in _STRATEGIES:
        if name == "mirrored":
            _STRATEGIES[name] = tf.distribute.MirroredStrategy(_local_devices(tf))
        elif name == "multi_worker":
            if not tf_config():
                raise ConfigError("train.strategy=multi_worker needs the TF_CONFIG environment variable "
                                  "(see README, 'Scaling out')")
            _STRATEGIES[name] = tf.distribute.MultiWorkerMirroredStrategy()
        else:
            raise ConfigError(f"unknown train.strategy '{name}' (default | mirrored | multi_worker)")
    return _STRATEGIES[name]


def _local_devices(tf):
    """Every local GPU; without GPUs, every logical CPU device (one unless configured otherwise)."""
    gpus = tf.config.list_logical_devices("GPU")
    return [device.name for device in (gpus or tf.config.list_logical_devices("CPU"))]


def fine_tune_strategy_name(strategy_name):
    """The strategy of the prune and QAT fine-tunes (`lepton quantize`: one process on one machine).

    TF-MOT's pruning wrappers, QAT and PQAT train under `MirroredStrategy`
    (two replicas checked by the tests; zeros preserved), so `mirrored` runs
    keep it. `quantize` also exports and evaluates, which only one process
    should do, so `multi_worker` runs fine-tune over the local devices of the
    one machine that runs it.
    """
    if strategy_name == "multi_worker":
        log.info("prune and QAT fine-tunes run in this one process over this machine's devices (mirrored); "
                 "run `lepton quantize` on one machine only")
        return "mirrored"
    return strategy_name


def is_chief(strategy_name):
    """True for the process that writes the run folder: always, except non-chief multi-workers."""
    if strategy_name != "multi_worker":
        return True
    config = tf_config()
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


def worker_count(strategy_name):
    """Machines taking part: the chief and workers of `TF_CONFIG` for multi_worker, else 1."""
    if strategy_name != "multi_worker":
        return 1
    cluster = tf_config().get("cluster", {})
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def scratch_dir():
    """Where a non-chief worker writes: `LEPTON_WORKER_DIR`, or a fresh temporary folder."""
    given = os.environ.get(WORKER_DIR_VARIABLE)
    return Path(given) if given else Path(tempfile.mkdtemp(prefix="lepton-worker-"))


def discard_scratch(path):
    """Removes a non-chief worker's scratch folder unless the user named it."""
    if not os.environ.get(WORKER_DIR_VARIABLE):
        shutil.rmtree(path, ignore_errors=True)


def describe(strategy, strategy_name):
    """What the model card records about how a model was trained."""
    return {"strategy": strategy_name, "replicas": int(strategy.num_replicas_in_sync),
            "workers": worker_count(strategy_name)}
