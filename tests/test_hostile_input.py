"""What a hostile-but-realistic user tries: nothing lost, nothing executed, nothing silently wrong.

Each test reproduces one class of problem on tiny data. Text-file parsing
(quoting, embedded delimiters and newlines, BOM) is covered case by case in
test_text_data.py, and decoder parity for every image format in
test_decode_parity.py; here they are exercised once end to end.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (CLASS_COLOURS, REPO, TINY_SETTINGS, as_sets, card_json, make_image_folder, write_image)
from lepton_tf.cli import main
from lepton_tf.run_folder import RunFolder


def snapshot(folder):
    """Every file under `folder` with its size and modification time: equal snapshots mean nothing changed."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and p.name != "lock"}


def copy_run(run_dir, destination):
    shutil.copytree(run_dir, destination)
    return RunFolder(destination)


def error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("lepton: error:")]
    assert len(lines) == 1, err
    return lines[0]


# --- data loss ----------------------------------------------------------------------------------------

def test_train_on_a_finished_run_is_refused_and_changes_nothing(quantized_run, tmp_path, image_folder, capsys):
    run = copy_run(quantized_run, tmp_path / "run")
    before = snapshot(run.path)
    assert main(["train", str(run.path), *as_sets([f"data.source={image_folder}", *TINY_SETTINGS])]) == 2
    line = error_line(capsys)
    assert "already holds a trained run" in line and "--overwrite" in line and "stages: float, pruned, qat" in line
    assert snapshot(run.path) == before


def test_overwrite_removes_only_what_the_project_wrote(quantized_run, tmp_path, image_folder):
    run = copy_run(quantized_run, tmp_path / "run")
    mine = [run.file("notes.txt"), run.file("tflite/my_phone_build.txt"), run.file("keras/my_model.h5")]
    for path in mine:
        path.write_text("the user's own file")
    old_int8 = run.file("tflite/int8.tflite")
    assert main(["train", str(run.path), "--overwrite",
                 *as_sets([f"data.source={image_folder}", *TINY_SETTINGS, "train.epochs=1"])]) == 0
    assert all(path.read_text() == "the user's own file" for path in mine)
    assert not old_int8.exists() and not run.file("saved_model").exists()
    card = card_json(run.path)
    assert list(card["stages"]) == ["float"] and card["artifacts"] == {} and card["stages"]["float"]["epochs"] == 1


def test_a_folder_that_is_not_a_run_folder_is_refused(tmp_path, image_folder, capsys):
    folder = tmp_path / "photos_backup"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "2024.txt").write_text("keep me")
    (folder / "tflite").mkdir()
    (folder / "tflite" / "model.tflite").write_bytes(b"someone else's model")
    before = snapshot(folder)
    assert main(["train", str(folder), *as_sets([f"data.source={image_folder}", *TINY_SETTINGS])]) == 2
    assert "is not empty and is not a lepton run folder" in error_line(capsys)
    assert snapshot(folder) == before and sorted(p.name for p in folder.iterdir()) == ["logs", "tflite"]


def test_a_failed_override_is_not_saved_and_the_run_stays_done(quantized_run, tmp_path, capsys):
    run = copy_run(quantized_run, tmp_path / "run")
    before = snapshot(run.path)
    assert main(["quantize", str(run.path), "--set", f"data.source={tmp_path / 'moved_away'}"]) == 2
    assert "data folder not found" in error_line(capsys)
    assert snapshot(run.path) == before and card_json(run.path)["status"] == "done"


def test_a_planted_outputs_list_cannot_delete_outside_the_run_folder(quantized_run, tmp_path, image_folder, capsys):
    run = copy_run(quantized_run, tmp_path / "run")
    precious = tmp_path / "precious.txt"
    precious.write_text("not the project's")
    run.file(".lepton/outputs.json").write_text('["config.yaml", "../precious.txt"]')
    assert main(["train", str(run.path), "--overwrite",
                 *as_sets([f"data.source={image_folder}", *TINY_SETTINGS])]) == 2
    assert "outputs.json is damaged" in error_line(capsys)
    assert precious.read_text() == "not the project's"


def test_damaged_run_records_give_one_line(quantized_run, tmp_path, capsys):
    run = copy_run(quantized_run, tmp_path / "run")
    run.file("labels.txt").unlink()
    assert main(["export", str(run.path)]) == 2
    assert "labels.txt is missing" in error_line(capsys)
    run.file("model_card.json").write_text('{"status": "done", "sta')
    assert main(["quantize", str(run.path)]) == 2
    assert "model_card.json is damaged" in error_line(capsys)


def test_a_class_name_with_a_line_break_is_refused(tmp_path, capsys):
    folder = make_image_folder(tmp_path / "data", per_class=6)
    (folder / "red").rename(folder / "red\nblue")
    assert main(["train", str(tmp_path / "run"), *as_sets([f"data.source={folder}", *TINY_SETTINGS])]) == 2
    assert "hold a line break" in error_line(capsys)


# --- code execution -----------------------------------------------------------------------------------

PLANT = """
import sys
from lepton_tf.keras import keras
marker = sys.argv[2]
inputs = keras.Input((12, 12, 3))
outputs = keras.layers.Lambda(lambda x: (open(marker, "w").write("code ran"), x)[1])(inputs)
model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(outputs)))
import os; os.remove(marker)  # building the model ran the lambda once, here, on purpose
model.save(sys.argv[1], save_format="h5")
"""


def test_a_planted_lambda_layer_never_runs(quantized_run, tmp_path, capsys):
    run = copy_run(quantized_run, tmp_path / "run")
    shutil.rmtree(run.file("saved_model"))  # so predict has to use the Keras weights
    marker = tmp_path / "pwned"
    for planted in (run.model_path("float"), run.file("keras/float.h5")):
        subprocess.run([sys.executable, "-c", PLANT, str(planted), str(marker)], check=True, cwd=REPO,
                       capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"})
    image = write_image(tmp_path / "red.png", CLASS_COLOURS["red"], size=12, seed=5)
    for command in (["predict", str(run.path), str(image)], ["export", str(run.path)], ["prune", str(run.path)]):
        assert main(command) == 2
        assert "does not hold weights for the architecture" in error_line(capsys)
    assert not marker.exists()


# --- silent wrong results -----------------------------------------------------------------------------

def test_csv_quoting_and_bom_load_the_right_rows_and_classes(tmp_path):
    from lepton_tf import config as config_lib
    from lepton_tf.data.sources import load_data

    rows = [("positive", '"Great, really great.\nA second line."'), ("negative", "dull")] * 6
    text = "\ufefflabel,text\n" + "".join(f"{label},{sentence}\n" for label, sentence in rows)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text(text, encoding="utf-8")
    (tmp_path / "data" / "test.csv").write_text(text, encoding="utf-8")
    data = load_data(config_lib.load(None, [f"data.source={tmp_path / 'data'}"]).data, tmp_path)
    assert data.class_names == ["negative", "positive"] and not data.skipped
    assert "Great, really great.\nA second line." in data.test.texts


@pytest.mark.parametrize("setting, message", [
    ("train.epochs=0", "'train.epochs' must be at least 1"),
    ("data.image_size=-3", "'data.image_size' must be at least 0"),  # 0 means the model's native size
    ("optimize.sparsity=1.0", "'optimize.sparsity' must be in [0, 1)"),
    ("optimize.sparsity=-0.1", "'optimize.sparsity' must be in [0, 1)"),
    ("train.learning_rate=.nan", "'train.learning_rate' must be a finite number"),
    ("train.learning_rate=.inf", "'train.learning_rate' must be a finite number"),
    ("optimize.learning_rate=-.inf", "'optimize.learning_rate' must be a finite number"),
    ("data.test_fraction=0.95", "data.val_fraction + data.test_fraction must be below 1"),
])
def test_impossible_settings_stop_with_one_line(tmp_path, image_folder, setting, message, capsys):
    assert main(["train", str(tmp_path / "run"), "--set", f"data.source={image_folder}", "--set", setting]) == 2
    assert message in error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_impossible_overrides_of_a_trained_run_stop_before_anything_changes(quantized_run, tmp_path, capsys):
    run = copy_run(quantized_run, tmp_path / "run")
    before = snapshot(run.path)
    assert main(["quantize", str(run.path), "--set", "optimize.sparsity=1.5"]) == 2
    assert "'optimize.sparsity' must be in [0, 1)" in error_line(capsys)
    assert snapshot(run.path) == before


def test_top_k_must_be_positive(quantized_run, tmp_path, capsys):
    image = write_image(tmp_path / "red.png", CLASS_COLOURS["red"], size=12, seed=5)
    for bad in ("0", "-2", "two"):
        with pytest.raises(SystemExit) as exit_info:
            main(["predict", str(quantized_run), str(image), "--top-k", bad])
        assert exit_info.value.code == 2 and "--top-k" in capsys.readouterr().err


def test_one_class_and_too_little_data_stop_with_one_line(tmp_path, capsys):
    one_class = make_image_folder(tmp_path / "one", per_class=6, classes={"red": CLASS_COLOURS["red"]})
    assert main(["train", str(tmp_path / "a"), *as_sets([f"data.source={one_class}", *TINY_SETTINGS])]) == 2
    assert "a classifier needs at least two" in error_line(capsys)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "train.tsv").write_text("label\ttext\npos\tgood\npos\tfine\npos\tnice\n")
    assert main(["train", str(tmp_path / "b"), "--set", f"data.source={tmp_path / 'text'}"]) == 2
    assert "a classifier needs at least two" in error_line(capsys)
    tiny = make_image_folder(tmp_path / "tiny", per_class=1)
    assert main(["train", str(tmp_path / "c"), *as_sets([f"data.source={tiny}", *TINY_SETTINGS])]) == 2
    assert "too small" in error_line(capsys)


def test_a_diverging_loss_fails_the_run_instead_of_finishing_it(tmp_path, image_folder, capsys):
    run = RunFolder(tmp_path / "run")
    settings = [f"data.source={image_folder}", *TINY_SETTINGS, "train.optimizer=sgd", "train.learning_rate=1.0e+30",
                "train.epochs=2"]
    assert main(["train", str(run.path), *as_sets(settings)]) == 2
    assert "training loss became" in error_line(capsys)
    card = card_json(run.path)
    assert card["status"] == "failed" and "float" not in card["stages"] and not run.model_path("float").exists()
    assert not run.file("backup/float").exists()  # the next command starts afresh, not from diverged weights
    assert main(["train", str(run.path), *as_sets([*settings, "train.learning_rate=0.01"])]) == 0
    assert card_json(run.path)["status"] == "done"


def test_quantize_with_other_sparsity_rebuilds_every_stage_it_needs(quantized_run, tmp_path, capsys):
    from lepton_tf.optimize.prune import measure_sparsity

    run = copy_run(quantized_run, tmp_path / "run")
    assert card_json(run.path)["stages"]["qat"]["source"] == "pruned"
    assert main(["export", str(run.path), "--set", "optimize.sparsity=0.75"]) == 2
    assert "was made with other settings (optimize.sparsity: 0.5 → 0.75)" in error_line(capsys)
    assert main(["quantize", str(run.path), "--set", "optimize.sparsity=0"]) == 0
    card = card_json(run.path)
    assert "pruned" not in card["stages"] and not run.model_path("pruned").exists()
    assert card["stages"]["qat"]["source"] == "float" and run.read_config().optimize.sparsity == 0.0
    overall, _ = measure_sparsity(run.load_model("qat"))
    assert overall < 0.05  # the QAT model (and so the int8 file) no longer carries the 50% zeros


def test_resuming_with_another_architecture_says_whose_backup_it_is(tmp_path, image_folder, capsys):
    from conftest import tiny_config

    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.write_config(tiny_config(image_folder))  # model.width=4
    run.output("backup/float").mkdir(parents=True)
    run.file("backup/float/checkpoint").write_text("an interrupted run's backup")
    before = snapshot(run.path)
    assert main(["train", str(run.path), *as_sets([f"data.source={image_folder}", *TINY_SETTINGS,
                                                    "model.width=8"])]) == 2
    line = error_line(capsys)
    assert "interrupted training made with other settings (model.width: 4 → 8)" in line and "--overwrite" in line
    assert snapshot(run.path) == before


# --- concurrency and damaged files --------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from lepton_tf.run_folder import RunFolder
with RunFolder(sys.argv[1]).lock("train"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_process_on_the_same_run_folder_is_refused(tmp_path, image_folder, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "run")], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["train", str(tmp_path / "run"), *as_sets([f"data.source={image_folder}", *TINY_SETTINGS])]) == 2
        assert f"in use by process {holder.pid} (lepton train)" in error_line(capsys)
    finally:
        holder.kill()
        holder.wait()
    assert not RunFolder(tmp_path / "run").file("history.csv").exists()


def test_a_truncated_tflite_file_gives_one_line(quantized_run, tmp_path, capsys):
    run = copy_run(quantized_run, tmp_path / "run")
    int8 = run.file("tflite/int8.tflite")
    int8.write_bytes(int8.read_bytes()[: int8.stat().st_size // 3])
    image = write_image(tmp_path / "red.png", CLASS_COLOURS["red"], size=12, seed=5)
    assert main(["predict", str(int8), str(image)]) == 2
    assert "is not a readable TFLite model" in error_line(capsys)
    run.file("tflite/float16.tflite").write_bytes(b"\x00" * 64)
    assert main(["evaluate", str(run.path)]) == 2
    assert "float16.tflite is not a readable TFLite model" in error_line(capsys)
