"""The Python API: `Run.create → train → quantize → predict`, in-memory data, and the same run folder as the CLI."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CLASS_COLOURS, REPO, TINY_SETTINGS, TINY_TEXT_SETTINGS, card_json, make_sentences, write_image
from lepton_tf import Run
from lepton_tf.card import ModelCard
from lepton_tf.errors import DataError, RunFolderError
from lepton_tf.tasks import Task


def run_files(run_dir):
    """Relative paths of what a run folder holds, TensorBoard event files and the lock left out."""
    root = Path(run_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and "events.out" not in p.name and p.name != "lock")


@pytest.fixture(scope="module")
def api_run(tmp_path_factory, image_folder):
    """The conftest CLI run's twin, made through the API."""
    run_dir = tmp_path_factory.mktemp("api") / "tiny"
    return Run.create(run_dir, data=image_folder, overrides=TINY_SETTINGS).train().quantize()


def test_the_api_makes_the_same_run_folder_as_the_cli(api_run, quantized_run):
    assert run_files(api_run.folder.path) == run_files(quantized_run)
    assert api_run.folder.file("config.yaml").read_text() == (quantized_run / "config.yaml").read_text()
    cli_card = card_json(quantized_run)
    assert api_run.card.labels == cli_card["labels"] and api_run.card.input == cli_card["input"]
    assert set(api_run.card.artifacts) == set(cli_card["artifacts"])


def test_every_finished_run_has_its_model_card_and_confusion_matrix(api_run):
    text = api_run.folder.file("MODEL_CARD.md").read_text()
    for heading in ("## Model details", "## Intended use", "## Quantitative analyses", "## Caveats and recommendations"):
        assert heading in text
    assert "![Confusion matrices](confusion_matrix.png)" in text
    assert api_run.folder.file("confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    int8 = api_run.card.artifacts["tflite/int8.tflite"]
    assert np.sum(int8.confusion_matrix) == api_run.card.data.examples["test"]  # every test example counted once
    assert np.trace(int8.confusion_matrix) / np.sum(int8.confusion_matrix) == pytest.approx(int8.accuracy, abs=1e-4)


def test_card_is_typed_and_round_trips(api_run):
    card = api_run.card
    assert isinstance(card, ModelCard) and card.schema_version == 2 and card.status == "done"
    assert ModelCard.from_dict(card.to_dict()) == card
    assert card.stages["pruned"].sparsity == pytest.approx(0.5, abs=0.01) and card.stages["qat"].source == "pruned"


def test_predict_names_classes_through_the_run_preprocessing(api_run, tmp_path):
    files = [str(write_image(tmp_path / f"{name}.png", colour, size=40, seed=5)) for name, colour in
             CLASS_COLOURS.items()]  # larger than the model's 12 px: the preprocessing object resizes them
    answers = api_run.predict(files, top_k=2)
    assert [pairs[0][0] for pairs in answers] == list(CLASS_COLOURS)
    assert all(len(pairs) == 2 and pairs[0][1] >= pairs[1][1] for pairs in answers)
    as_bytes = api_run.predict([Path(f).read_bytes() for f in files], top_k=3)
    assert [pairs[0][0] for pairs in as_bytes] == list(CLASS_COLOURS)


def test_a_reopened_run_loads_its_data_once_and_exports_a_new_saved_model_version(api_run):
    run = Run.open(api_run.folder.path)
    assert isinstance(run.task, Task) and run.task is run.task
    run.export()
    assert api_run.folder.file("saved_model/1/saved_model.pb").is_file()  # TF Serving keeps serving it until 2 loads
    assert api_run.folder.file("saved_model/2/saved_model.pb").is_file()
    assert run.card.latest_saved_model() == "saved_model/2" and "saved_model/1" not in run.card.artifacts
    assert run.card.artifacts["saved_model/2"].accuracy is not None


def test_train_refuses_a_finished_run_and_changes_nothing(api_run):
    before = {path: api_run.folder.file(path).stat().st_mtime_ns for path in run_files(api_run.folder.path)}
    with pytest.raises(RunFolderError, match="already holds a trained run.*overwrite=True"):
        Run.create(api_run.folder.path, data="digits").train()
    assert {path: api_run.folder.file(path).stat().st_mtime_ns for path in run_files(api_run.folder.path)} == before


def colour_arrays(per_class=10, size=12):
    """uint8 images [N, size, size, 3] dominated by one colour a class, and their labels."""
    rng = np.random.default_rng(0)
    images, labels = [], []
    for label, colour in enumerate(CLASS_COLOURS.values()):
        noise = rng.normal(0, 25, (per_class, size, size, 3))
        images.append(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8))
        labels += [label] * per_class
    return np.concatenate(images), np.array(labels)


def test_in_memory_images_train_quantize_and_reopen_in_a_fresh_process(tmp_path):
    images, labels = colour_arrays()
    run = Run.create(tmp_path / "arrays", data=(images, labels), class_names=list(CLASS_COLOURS),
                     overrides=TINY_SETTINGS + ["optimize.sparsity=0", "optimize.skip_quantize=true",
                                                "export.mediapipe_examples=0"]).train()
    assert sum(run.card.data.examples.values()) == 30 and min(run.card.data.examples.values()) > 0
    assert Path(run.card.data.source) == (tmp_path / "arrays" / "data" / "in_memory").resolve()
    assert [pairs[0][0] for pairs in run.predict([png_bytes(images[0]), png_bytes(images[-1])])] == ["blue", "red"]
    script = f"from lepton_tf import Run; print(Run.open({str(tmp_path / 'arrays')!r}).quantize().summary())"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tflite/int8.tflite" in done.stdout and set(Run.open(tmp_path / "arrays").card.artifacts) == {
        "saved_model/1", "tflite/float32.tflite", "tflite/float16.tflite", "tflite/dynamic.tflite", "tflite/int8.tflite"}


def png_bytes(image):
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def test_in_memory_sentences_train_and_predict(tmp_path):
    rows = make_sentences(200, seed=3)
    texts, labels = [text for _, text in rows], [int(label == "positive") for label, _ in rows]
    run = Run.create(tmp_path / "texts", data=(texts, labels), class_names=["negative", "positive"],
                     overrides=TINY_TEXT_SETTINGS + ["train.epochs=8"]).train()
    assert run.card.task == "text" and run.card.labels == ["negative", "positive"]
    assert isinstance(run.task, Task)
    answers = run.predict(["The film is wonderful and charming.", "A dull and tedious story."], top_k=1)
    assert [pairs[0][0] for pairs in answers] == ["positive", "negative"]


@pytest.mark.parametrize("data, class_names, message", [
    ((np.zeros((4, 8, 8, 3), np.float32), [0, 1, 0, 1]), ["a", "b"], "uint8"),
    ((np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 2]), ["a", "b"], r"labels must lie in 0\.\.1"),
    ((np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0]), ["a", "b"], "4 integers"),
    ((np.zeros((4, 8, 8, 3), np.uint8), [0, 1, 0, 1]), None, "class_names"),
    ((["one", "two"], [0, 1]), ["a", "a"], "distinct"),
    (([1, 2], [0, 1]), ["a", "b"], "or strings"),
    ((np.zeros((2, 8, 8, 3), np.uint8), [0, 1]), ["cats/dogs", "birds"], "without slashes"),
])
def test_bad_in_memory_data_is_refused_in_one_line(tmp_path, data, class_names, message):
    with pytest.raises(DataError, match=message):
        Run.create(tmp_path / "bad", data=data, class_names=class_names)
    assert not (tmp_path / "bad").exists()  # nothing written


def test_open_names_a_missing_run_folder(tmp_path):
    with pytest.raises(RunFolderError, match="not found"):
        Run.open(tmp_path / "nowhere")


def test_stages_of_a_run_never_trained_say_train_first_and_write_nothing(tmp_path):
    run = Run.create(tmp_path / "untrained", data="digits")
    for stage in (run.prune, run.qat, run.export, run.evaluate, run.quantize, run.summary,
                  lambda: run.fork(tmp_path / "fork"), lambda: run.predict(["x.png"])):
        with pytest.raises(RunFolderError, match="train"):
            stage()
    assert not (tmp_path / "untrained").exists() and not (tmp_path / "fork").exists()


def test_predict_answers_bad_inputs_in_one_line(api_run, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    for bad in ([str(tmp_path / "missing.png")], [str(tmp_path / "notes.txt")], [b"garbage"], [None]):
        with pytest.raises(DataError, match="not a readable image"):
            api_run.predict(bad)
    with pytest.raises(DataError, match="top_k"):
        api_run.predict([b"x"], top_k=0)
    assert api_run.predict([]) == []


def test_fork_refuses_its_own_folder(api_run):
    with pytest.raises(RunFolderError, match="into itself"):
        api_run.fork(api_run.folder.path)
