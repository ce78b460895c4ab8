"""The whole chain on a small sorted subset of the real CIFAR-10 JPEG folders."""

import json

import pytest

from conftest import SHARED_DATA, TINY_SETTINGS, link_subset
from lepton_tf.cli import main

CIFAR = SHARED_DATA / "cifar10"
pytestmark = pytest.mark.skipif(not CIFAR.is_dir(), reason="../shared/data/cifar10 is not present")


@pytest.mark.slow  # over a minute: CIFAR-10 JPEGs through train → quantize → export
def test_cifar_subset_trains_quantizes_and_exports(tmp_path):
    data = link_subset(CIFAR, tmp_path / "cifar_subset")
    run_dir = tmp_path / "cifar"
    sets = [arg for s in TINY_SETTINGS + ["data.image_size=32", "train.epochs=2"] for arg in ("--set", s)]
    assert main(["train", str(run_dir), "--set", f"data.source={data}", *sets]) == 0
    assert main(["quantize", str(run_dir)]) == 0
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["labels"] == sorted(p.name for p in (CIFAR / "train").iterdir())
    assert card["data"]["examples"]["test"] == 100 and card["data"]["skipped"] == 0
    assert card["input"]["shape"] == [32, 32, 3]
    int8 = card["artifacts"]["tflite/int8.tflite"]
    assert int8["examples"] == 100 and int8["bytes"] < card["artifacts"]["tflite/float32.tflite"]["bytes"] / 2
