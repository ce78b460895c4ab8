"""MODEL_CARD.md and confusion_matrix.png, rendered from hand-made model cards (no TensorFlow)."""

import re

import pytest
from matplotlib import image as mpimg

from lepton_tf import plots, report
from lepton_tf.card import Artifact, DataDetails, ModelCard, ModelDetails, StageResult, tflite_path
from lepton_tf.config import CardConfig, Config

CLASSES = ["cat", "dog", "fox"]
HEADINGS = ["## Model details", "## Intended use", "## Out-of-scope use", "## Factors", "## Metrics",
            "## Evaluation data", "## Training data", "## Quantitative analyses", "## Ethical considerations",
            "## Caveats and recommendations"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# fox is never predicted: its precision must be 0.0, not NaN.
MATRIX = [[3, 1, 0],
          [1, 2, 0],
          [2, 0, 0]]


def float_only_card(task="image"):
    """A card as training leaves it: the float stage, no exported file."""
    inputs = ({"shape": [32, 32, 3], "resize": "crop"} if task == "image" else
              {"shape": [48], "tokenizer": {"kind": "regex", "vocabulary_size": 5000}})
    return ModelCard(
        name="pets", task=task, status="done", labels=list(CLASSES), input=inputs, created="2024-05-01T10:00:00Z",
        command="lepton_tf train --run runs/pets", model=ModelDetails(name="resnet", params=12345),
        data=DataDetails(source="data/pets", examples={"train": 700, "val": 80, "test": 9}, skipped=2),
        stages={"float": StageResult(accuracy=5 / 9, epochs=10, train_seconds=42.0, confusion_matrix=MATRIX)})


def full_card():
    """A card after pruning, QAT and export, with both reference files' confusion matrices."""
    card = float_only_card()
    card.model.transfer = {"pretrained": "imagenet", "weights": "lite0.h5"}
    card.stages["pruned"] = StageResult(accuracy=0.5, epochs=2, sparsity=0.5, target_sparsity=0.5, source="float")
    card.stages["qat"] = StageResult(accuracy=0.5, epochs=1, sparsity=0.49, source="pruned",
                                     confusion_matrix=MATRIX)
    card.artifacts = {
        tflite_path("float32"): Artifact(format="tflite/float32", source="qat", bytes=1234567, accuracy=0.9,
                                         agreement=1.0, latency_ms_p50=1.25, confusion_matrix=MATRIX),
        tflite_path("int8"): Artifact(format="tflite/int8", source="qat", bytes=345678, accuracy=0.875,
                                      agreement=0.95, latency_ms_p50=0.5, mediapipe_accuracy=0.875,
                                      mediapipe_agreement=1.0, confusion_matrix=[[4, 0, 0], [1, 2, 0], [1, 1, 0]]),
    }
    return card


def png_size(path):
    """(width, height) of a PNG that matplotlib can decode."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width = mpimg.imread(path).shape[:2]
    return width, height


def test_per_class_metrics_of_a_hand_made_matrix():
    metrics = {m["class"]: m for m in report.per_class_metrics(MATRIX, CLASSES)}
    assert metrics["cat"] == pytest.approx({"class": "cat", "precision": 0.5, "recall": 0.75, "f1": 0.6,
                                            "support": 4})
    assert metrics["dog"] == pytest.approx({"class": "dog", "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3,
                                            "support": 3})
    assert metrics["fox"] == {"class": "fox", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}


def test_confusion_matrix_counts_true_by_predicted():
    matrix = report.confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 0, 0], 3)
    assert matrix == [[1, 1, 0], [0, 1, 0], [2, 0, 0]]
    assert all(type(count) is int for row in matrix for count in row)
    with pytest.raises(ValueError):
        report.confusion_matrix([0, 3], [0, 0], 3)


def test_wilson_interval_matches_the_textbook_value():
    low, high = report.wilson_interval(0.5, 100)
    assert (low, high) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert report.wilson_interval(0.5, 0) is None


def test_float_only_card_has_every_section_in_order_and_a_valid_png(tmp_path):
    report.write_report(tmp_path, float_only_card(), Config())
    text = (tmp_path / "MODEL_CARD.md").read_text()
    assert text.startswith("# Model card: pets\n")
    positions = [text.index(f"\n{heading}\n") for heading in HEADINGS]
    assert positions == sorted(positions)
    table = text.split("### Per class: float (Keras)")[1].split("\n\n")[1]
    assert all(f"| {name} |" in table for name in CLASSES)
    assert "| fox | 0.00% | 0.00% | 0.00% | 2 |" in table
    assert "No file has been exported yet." in text
    assert "![Confusion matrices](confusion_matrix.png)" in text
    assert "![Learning curves]" not in text  # no curves.png in this folder
    assert "set `card.intended_use`" in text and "`cat`, `dog`, `fox`" in text
    assert "The test split is small (9 examples)" in text
    width, height = png_size(tmp_path / "confusion_matrix.png")
    assert width > 0 and height > 0


def test_full_card_plots_two_panels_and_reports_both_files(tmp_path):
    one_panel, two_panels = tmp_path / "one", tmp_path / "two"
    report.write_report(one_panel, float_only_card(), Config())
    (two_panels / "curves.png").parent.mkdir()
    (two_panels / "curves.png").write_bytes(PNG_SIGNATURE)
    report.write_report(two_panels, full_card(), Config())
    assert png_size(two_panels / "confusion_matrix.png")[0] > png_size(one_panel / "confusion_matrix.png")[0]
    text = (two_panels / "MODEL_CARD.md").read_text()
    assert "### Per class: float32 file (`tflite/float32.tflite`)" in text
    assert "### Per class: int8 file (`tflite/int8.tflite`)" in text
    assert "### Per class: float (Keras)" not in text
    caveats = text.split("## Caveats and recommendations")[1]
    assert "int8 quantization costs 2.50 points" in caveats  # 90.00% -> 87.50%
    assert "`tflite/int8.tflite` agrees with its source Keras model on only 95.00%" in caveats
    assert "| `tflite/float32.tflite` | 1,234,567 | 90.00% | 100.00% | 1.250 | - | - |" in text
    assert "| qat | 50.00% | 49.00% |" in text
    assert "Apache-2.0" in text and "![Learning curves](curves.png)" in text


def test_plotted_matrices_prefer_the_reference_files():
    card = full_card()
    assert list(report.plotted_matrices(card)) == ["float32 file", "int8 file"]
    del card.artifacts[tflite_path("float32")]
    assert list(report.plotted_matrices(card)) == ["int8 file"]
    card.artifacts.clear()
    assert list(report.plotted_matrices(card)) == ["float (Keras)", "qat (Keras)"]


def test_intended_use_from_the_config_replaces_the_default(tmp_path):
    config = Config(card=CardConfig(intended_use="Sorting *my* pet photos | at home.", license="CC-BY-4.0"))
    report.write_report(tmp_path, float_only_card(), config)
    text = (tmp_path / "MODEL_CARD.md").read_text()
    assert "## Intended use\n\nSorting *my* pet photos | at home.\n" in text
    assert "set `card.intended_use`" not in text
    assert "- Licence: CC-BY-4.0" in text


def test_text_card_without_any_matrix_writes_no_png(tmp_path):
    card = float_only_card(task="text")
    card.stages["float"].confusion_matrix = None
    report.write_report(tmp_path, card, Config())
    text = (tmp_path / "MODEL_CARD.md").read_text()
    assert "`regex` tokenizer" in text and "48 token ids" in text
    assert "![Confusion matrices]" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MODEL_CARD.md"]


def test_writes_leave_no_temporary_files(tmp_path, monkeypatch):
    report.write_report(tmp_path, full_card(), Config())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MODEL_CARD.md", "confusion_matrix.png"]

    def broken_savefig(figure, path, **kwargs):
        open(path, "wb").write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(plots.Figure, "savefig", broken_savefig)
    with pytest.raises(OSError):
        report.write_report(tmp_path / "failed", full_card(), Config())
    assert list((tmp_path / "failed").iterdir()) == []


def test_many_classes_are_listed_up_to_twenty(tmp_path):
    names = [f"class_{index}" for index in range(35)]
    card = float_only_card()
    card.labels = names
    card.stages["float"].confusion_matrix = [[int(i == j) for j in range(35)] for i in range(35)]
    report.write_report(tmp_path, card, Config())
    text = (tmp_path / "MODEL_CARD.md").read_text()
    intended = text.split("## Intended use")[1].split("##")[0]
    assert "`class_19`, …" in intended and "class_20" not in intended
    assert re.search(r"\| class\\_34 \| 100\.00% \| 100\.00% \| 100\.00% \| 1 \|", text)
    png_size(tmp_path / "confusion_matrix.png")
