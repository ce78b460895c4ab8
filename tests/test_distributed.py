"""Training under `tf.distribute`: two real worker processes on 127.0.0.1, and the GPU-path switches on CPU."""

import json
import socket

import numpy as np
import pytest

from conftest import SHARED_DATA, TINY_SETTINGS, as_sets, link_subset, start_lepton, start_python, wait_for, card_json
from lepton_tf.cli import main
from lepton_tf.run_folder import RunFolder
from lepton_tf.train import read_history

CIFAR = SHARED_DATA / "cifar10"
WORKER_TIMEOUT = 300  # seconds; both processes are killed after it, whatever happened
# A small image model, a few optimizer steps: 160 images, global batch 32, 2 epochs.
SMALL_RUN = [s for s in TINY_SETTINGS if not s.startswith(("data.image_size", "data.batch_size", "train.epochs"))] + [
    "data.image_size=16", "data.batch_size=32", "train.epochs=2", "train.backup_steps=0"]


def free_ports(count):
    """Ports nothing listens on now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_workers(run_dir, settings, scratch):
    """Starts one `lepton train` a worker with its TF_CONFIG; waits for all; always reaps them."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    processes = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            processes.append(start_lepton("train", run_dir, *as_sets(settings),
                                          env={"TF_CONFIG": tf_config, "LEPTON_WORKER_DIR": str(scratch)}))
        outputs = [wait_for(process, WORKER_TIMEOUT) for process in processes]
    finally:
        for process in processes:  # a worker left waiting for a failed peer must not outlive the test
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output
    return outputs


@pytest.mark.slow  # two worker processes on CIFAR-10 files
@pytest.mark.skipif(not CIFAR.is_dir(), reason="../shared/data/cifar10 is not present")
def test_two_workers_end_identical_and_only_the_chief_writes_the_run_folder(tmp_path):
    data = link_subset(CIFAR, tmp_path / "cifar", train_per_class=20, test_per_class=5)
    settings = [f"data.source={data}", *SMALL_RUN]
    run_dir, scratch = tmp_path / "run", tmp_path / "worker1"
    run_workers(run_dir, [*settings, "train.strategy=multi_worker"], scratch)

    chief, worker = RunFolder(run_dir), RunFolder(scratch)
    trained = card_json(chief.path)["stages"]["float"]
    assert (trained["strategy"], trained["replicas"], trained["workers"]) == ("multi_worker", 2, 2)
    for chief_weights, worker_weights in zip(chief.load_model("float").get_weights(),
                                             worker.load_model("float").get_weights()):
        np.testing.assert_allclose(chief_weights, worker_weights, rtol=1e-5, atol=1e-6)
    assert not [p for p in run_dir.rglob("*") if "workertemp" in p.name]  # Keras' worker backups are gone
    assert card_json(worker.path)["stages"]["float"]["epochs"] == trained["epochs"] == 2

    # The same global batch on one worker lands within noise of the two-worker run.
    single_dir = tmp_path / "single"
    assert main(["train", str(single_dir), *as_sets(settings)]) == 0
    single = card_json(RunFolder(single_dir).path)["stages"]["float"]
    assert single["replicas"] == 1 and single["strategy"] == "default"
    assert abs(single["accuracy"] - trained["accuracy"]) <= 0.15
    two, one = (read_history(RunFolder(folder).file("history.csv"))["loss"][-1] for folder in (run_dir, single_dir))
    assert abs(two - one) <= 0.25 * one


# `lepton train` then `lepton quantize` in one process that has two logical CPU devices, so
# MirroredStrategy gets two replicas on a CPU-only machine.
TRAIN_AND_QUANTIZE_ON_TWO_CPU_REPLICAS = """
import sys
from lepton_tf.keras import tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
from lepton_tf.cli import main
sys.exit(main(sys.argv[1:]) or main(["quantize", sys.argv[2]]))
"""


@pytest.mark.slow  # over a minute: the whole chain on two replicas
def test_mirrored_strategy_trains_prunes_and_quantizes_on_two_replicas(tmp_path, image_folder):
    run_dir = tmp_path / "run"
    settings = [f"data.source={image_folder}", *TINY_SETTINGS, "train.strategy=mirrored"]
    process = start_python("-c", TRAIN_AND_QUANTIZE_ON_TWO_CPU_REPLICAS, "train", run_dir, *as_sets(settings))
    output = wait_for(process, WORKER_TIMEOUT)
    assert process.returncode == 0, output
    card = card_json(RunFolder(run_dir).path)
    for stage in ("float", "pruned", "qat"):
        assert (card["stages"][stage]["strategy"], card["stages"][stage]["replicas"]) == ("mirrored", 2), stage
    assert card["stages"]["qat"]["sparsity"] >= 0.49  # PQAT kept the zeros under the strategy
    assert card["artifacts"]["tflite/int8.tflite"]["accuracy"] > 0.8


def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path, image_folder, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(["train", str(tmp_path / "run"), *as_sets([f"data.source={image_folder}", *TINY_SETTINGS,
                                                            "train.strategy=multi_worker"])])
    assert code == 2 and "TF_CONFIG" in capsys.readouterr().err


@pytest.mark.slow  # about a minute: XLA compiles every step function
def test_mixed_precision_and_xla_train_a_float32_model_that_converts(tmp_path, image_folder):
    run_dir = tmp_path / "run"
    settings = [f"data.source={image_folder}", *TINY_SETTINGS, "train.mixed_precision=true",
                "train.jit_compile=true", "optimize.prune_epochs=1", "optimize.qat_epochs=1"]
    assert main(["train", str(run_dir), *as_sets(settings)]) == 0
    run = RunFolder(run_dir)
    trained = card_json(run.path)["stages"]["float"]
    assert trained["mixed_precision"] and trained["jit_compile"]
    model = run.load_model("float")
    assert {w.dtype.name for w in model.weights} == {"float32"} and model.compute_dtype == "float32"
    assert main(["quantize", str(run_dir)]) == 0
    artifacts = card_json(run.path)["artifacts"]
    assert artifacts["tflite/float32.tflite"]["agreement"] == 1.0
    assert artifacts["tflite/int8.tflite"]["accuracy"] > 0.8
