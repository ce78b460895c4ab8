"""Through failures: `kill -9` then the same command, an interrupted export, a full disk, an unwritable folder."""

import errno
import json
import shutil
from pathlib import Path

import pytest

from conftest import TINY_SETTINGS, as_sets, kill_when, start_lepton, card_json
from lepton_tf.cli import main
from lepton_tf.errors import RunFolderError
from lepton_tf.evaluate import TFLiteClassifier
from lepton_tf.run_folder import RunFolder
from lepton_tf.stages import has_backup
from lepton_tf.train import read_history

# The session's tiny run (see conftest), backed up every 2 steps so a kill lands between backups.
RESUMABLE = [*TINY_SETTINGS, "train.backup_steps=2"]


def epochs_of(history_file):
    return [int(epoch) for epoch in read_history(history_file)["epoch"]] if history_file.is_file() else []


def test_killed_training_resumes_to_the_same_epochs_and_quality(tmp_path, image_folder, quantized_run):
    settings = as_sets([f"data.source={image_folder}", *RESUMABLE])
    run = RunFolder(tmp_path / "killed")
    process = start_lepton("train", run.path, *settings)
    kill_when(process, lambda: has_backup(run, "float") and len(epochs_of(run.file("history.csv"))) >= 2)
    assert process.returncode == -9 and not run.model_path("float").exists()
    assert card_json(run.path)["status"] == "running"
    with pytest.raises(RunFolderError, match="no finished float model"):
        run.require()  # `make quantize` now stops with a clear message
    done_before = len(epochs_of(run.file("history.csv")))

    assert main(["train", str(run.path), *settings]) == 0
    card = card_json(run.path)
    epochs = card["stages"]["float"]["epochs"]
    assert card["status"] == "done" and epochs == 6 and 2 <= done_before < 6
    assert epochs_of(run.file("history.csv")) == list(range(6)) and not has_backup(run, "float")
    # The same recipe, never interrupted (the session's run), reached the same quality.
    uninterrupted = card_json(RunFolder(quantized_run).path)["stages"]["float"]["accuracy"]
    assert abs(card["stages"]["float"]["accuracy"] - uninterrupted) <= 0.1


@pytest.mark.slow  # over a minute: a killed and a resumed process
def test_killed_quantize_resumes_pruning_where_it_stopped(tmp_path, quantized_run):
    run = RunFolder(shutil.copytree(quantized_run, tmp_path / "run"))
    for stage in ("pruned", "qat"):
        run.model_path(stage).unlink()
    longer = as_sets(["optimize.prune_epochs=6", "train.backup_steps=2"])
    process = start_lepton("quantize", run.path, *longer)
    kill_when(process, lambda: has_backup(run, "pruned") and len(epochs_of(run.file("history_pruned.csv"))) >= 2)
    assert not run.model_path("pruned").exists() and card_json(run.path)["stage"] == "pruned"

    assert main(["quantize", str(run.path), *longer]) == 0
    card = card_json(run.path)
    assert epochs_of(run.file("history_pruned.csv")) == list(range(6))
    assert card["stages"]["pruned"]["sparsity"] >= 0.49 and card["status"] == "done"
    assert card["artifacts"]["tflite/int8.tflite"]["accuracy"] > 0.8


def assert_every_file_whole(run_dir):
    """Every `.tflite` present runs, the SavedModel (if present) loads, and no temporary is left visible."""
    from lepton_tf.keras import tf

    for path in (run_dir / "tflite").glob("*.tflite"):
        TFLiteClassifier(path)._resize(1)  # a truncated flatbuffer fails here
    if (run_dir / "saved_model" / "1").exists():
        tf.saved_model.load(str(run_dir / "saved_model" / "1"))
    return sorted(p.name for p in (run_dir / "tflite").glob("*.tflite")) if (run_dir / "tflite").exists() else []


@pytest.mark.slow  # about a minute: an interrupted and a repeated export
def test_interrupted_export_leaves_no_broken_file_and_the_next_one_finishes(tmp_path, quantized_run):
    run_dir = Path(shutil.copytree(quantized_run, tmp_path / "run"))
    for exported in ("tflite", "saved_model"):
        shutil.rmtree(run_dir / exported)
    process = start_lepton("export", run_dir)
    # Kill while the first TFLite file is being written (its temporary exists, the file does not).
    kill_when(process, lambda: (run_dir / "tflite").is_dir() and any((run_dir / "tflite").iterdir()), interval=0.005)
    assert len(assert_every_file_whole(run_dir)) < 4  # killed mid-export, and what is there is whole
    assert json.loads((run_dir / "model_card.json").read_text())["status"] == "running"

    assert main(["export", str(run_dir)]) == 0
    assert assert_every_file_whole(run_dir) == ["dynamic.tflite", "float16.tflite", "float32.tflite", "int8.tflite"]
    assert not [p for p in run_dir.rglob(".*") if ".tmp" in p.name]
    assert card_json(RunFolder(run_dir).path)["status"] == "done"


def test_unwritable_run_folder_is_one_clear_error(tmp_path, image_folder, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["train", str(blocker / "run"), *as_sets([f"data.source={image_folder}", *TINY_SETTINGS])])
    assert code == 2 and "cannot write to run folder" in capsys.readouterr().err


def test_full_disk_during_export_is_one_clear_error(tmp_path, quantized_run, capsys, monkeypatch):
    run_dir = Path(shutil.copytree(quantized_run, tmp_path / "run"))
    before = {p: p.read_bytes() for p in (run_dir / "tflite").glob("*.tflite")}

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    assert main(["export", str(run_dir)]) == 2
    assert "the disk is full" in capsys.readouterr().err
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in (run_dir / "tflite").glob("*.tflite")} == before  # nothing half-replaced
