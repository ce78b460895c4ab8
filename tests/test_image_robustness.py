"""Image corruptions (CIFAR-10-C / ImageNet-C) and the robustness report: deterministic, atomic, reachable."""

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lepton_tf.cli import main
from lepton_tf.robustness.image_corruptions import CORRUPTIONS, SEVERITIES, constants_name, corrupt_images


def smooth_images(count=3, side=32, seed=0):
    """Photo-like images: smooth colour gradients with a dark square, not white noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, side)
    images = []
    for _ in range(count):
        low, high = rng.uniform(20, 120, 3), rng.uniform(140, 235, 3)
        image = low + (high - low) * (ramp[:, None, None] + ramp[None, :, None]) / 2
        start = rng.integers(2, side // 2)
        image[start:start + side // 3, start:start + side // 3] *= 0.3
        images.append(image)
    return np.uint8(images)


def test_the_same_seed_gives_the_same_corrupted_set_and_another_seed_another():
    images = smooth_images()
    state = np.random.get_state()
    for name in CORRUPTIONS:
        first = corrupt_images(images, name, 3, seed=7)
        assert first.shape == images.shape and first.dtype == np.uint8, name
        np.testing.assert_array_equal(first, corrupt_images(images, name, 3, seed=7), err_msg=name)
    assert not np.array_equal(corrupt_images(images, "gaussian_noise", 3, seed=7),
                              corrupt_images(images, "gaussian_noise", 3, seed=8))
    assert np.array_equal(np.random.get_state()[1], state[1]), "NumPy's global generator must be left as it was"


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_changes_the_image_and_severity_5_more_than_severity_1(name):
    images = smooth_images(count=4)
    change = [np.abs(corrupt_images(images, name, severity).astype(float) - images).mean() for severity in (1, 5)]
    assert change[0] > 0, name
    # CIFAR-10-C's elastic severities trade a large affine warp (severity 1) for fine local
    # displacement (severity 5): on smooth images the first moves more pixel values.
    if name != "elastic_transform":
        assert change[1] > change[0], (name, change)


def test_small_images_get_cifar10_c_constants_and_large_ones_imagenet_c():
    assert "CIFAR-10-C" in constants_name((32, 32, 3)) and "CIFAR-10-C" in constants_name((64, 48, 3))
    assert "ImageNet-C" in constants_name((96, 96, 3))
    # ImageNet-C's Gaussian noise at severity 1 (sigma 0.08) is CIFAR-10-C's at severity 3.
    large = smooth_images(count=1, side=96)
    imagenet = corrupt_images(large, "gaussian_noise", 1).astype(float) - large
    cifar = corrupt_images(smooth_images(count=1, side=32), "gaussian_noise", 1).astype(float) - smooth_images(1)
    assert imagenet.std() > 1.5 * cifar.std()


def test_unknown_corruption_or_severity_is_refused():
    with pytest.raises(ValueError, match="unknown corruption 'rain'"):
        corrupt_images(smooth_images(1), "rain", 1)
    with pytest.raises(ValueError, match="severity must be 1-5"):
        corrupt_images(smooth_images(1), "fog", 6)


def test_image_task_makes_75_sets_of_one_seeded_subset(quantized_run):
    from lepton_tf.run import Run

    task = Run.open(quantized_run).task
    first, again = (task.perturbed_test_sets(seed=3, count=5) for _ in range(2))
    assert first.examples == 5 and len(first.makers) == len(CORRUPTIONS) * len(SEVERITIES) == 75
    snow, snow_again = first.makers["snow/2"](), again.makers["snow/2"]()
    np.testing.assert_array_equal(snow.tflite, snow_again.tflite)
    assert snow.serving == snow_again.serving and len(snow.serving) == 5
    clean = first.clean()
    subset = [next(i for i, image in enumerate(task.data.test.images) if np.array_equal(image, pixels))
              for pixels in clean.tflite.astype(np.uint8)]
    np.testing.assert_array_equal(clean.labels, task.data.test.labels[subset])
    np.testing.assert_array_equal(snow.tflite, corrupt_images(task.data.test.images[subset], "snow", 2, 3))


def test_robustness_command_remeasures_and_writes_the_report_atomically(quantized_run, tmp_path, monkeypatch):
    from lepton_tf.robustness.report import write_report
    from lepton_tf.run_folder import RunFolder

    run_dir = shutil.copytree(quantized_run, tmp_path / "run")
    assert main(["robustness", str(run_dir), "--set", "export.robustness_examples=4"]) == 0
    folder = RunFolder(run_dir)
    card = folder.read_card()
    written = (run_dir / "robustness.json").read_text()
    assert json.loads(written)["examples"] == 4
    assert all(entry.robustness["examples"] == 4 for entry in card.artifacts.values())

    original = Path.write_bytes

    def disk_full_halfway(self, data):  # what a full disk does to a write: part of it lands, then an error
        original(self, data[:len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full_halfway)
    card.artifacts["tflite/int8.tflite"].robustness["mean_accuracy"] = 0.123
    with pytest.raises(OSError):
        write_report(folder, card)
    assert (run_dir / "robustness.json").read_text() == written
    assert not [path.name for path in run_dir.iterdir() if ".tmp" in path.name]


def test_robustness_of_a_run_with_nothing_exported_is_one_clear_error(tmp_path, capsys):
    assert main(["robustness", str(tmp_path / "missing")]) == 2
    assert "lepton: error:" in capsys.readouterr().err
