"""`make bench`: the quick benchmark end to end, and the arithmetic behind its tables and targets."""

import json
import math
import subprocess

import numpy as np
import pytest
from PIL import Image

from benchmarks import frontier, report, targets
from benchmarks.__main__ import main as bench_main
from benchmarks.report import README_END, README_START
from conftest import SHARED_DATA, write_image

HAS_SHARED_DATA = all((SHARED_DATA / name).is_dir() for name in ("cifar10", "sst2", "trec"))


def test_make_bench_passes_quick_runs_and_data_sets():
    printed = subprocess.run(["make", "--dry-run", "--no-print-directory", "bench", "QUICK=1", "RUNS=3",
                              "BENCH_DATA=trec"], capture_output=True, text=True, check=True).stdout
    command = next(line for line in printed.splitlines() if "-m benchmarks" in line)
    assert command.split()[1:] == ["-m", "benchmarks", "--quick", "--runs", "3", "--data", "trec"]


@pytest.mark.parametrize("data, recipe", [("../shared/data/cifar10", "configs/cifar10.yaml"),
                                          ("../shared/data/trec/", "configs/trec.yaml"),
                                          ("tfds:mnist", "configs/default.yaml")])
def test_make_train_picks_the_recipe_named_like_the_data(data, recipe):
    printed = subprocess.run(["make", "--dry-run", "--no-print-directory", "train", f"DATA={data}"],
                             capture_output=True, text=True, check=True).stdout
    command = next(line for line in printed.splitlines() if "lepton train" in line)
    assert f"--config {recipe}" in command and f"data.source={data}" in command


def test_make_train_on_a_folder_without_a_recipe_uses_the_built_in_defaults(tmp_path):
    printed = subprocess.run(["make", "--dry-run", "--no-print-directory", "train", f"DATA={tmp_path}"],
                             capture_output=True, text=True, check=True).stdout
    command = next(line for line in printed.splitlines() if "lepton train" in line)
    assert "--config" not in command and f"data.source={tmp_path}" in command  # model.name auto decides


def test_make_passes_any_config_field_and_overwrite():
    printed = subprocess.run(["make", "--dry-run", "--no-print-directory", "train", "OVERWRITE=1",
                              "SET=data.image_size=24 train.epochs=5"], capture_output=True, text=True, check=True).stdout
    command = next(line for line in printed.splitlines() if "lepton train" in line).split()
    assert "--overwrite" in command
    assert " ".join(command).endswith("--set data.image_size=24 --set train.epochs=5")


def test_aggregate_reports_median_and_spread_of_every_shared_number():
    records = [{"a": {"x": 0.80, "n": 3}, "label": "s"}, {"a": {"x": 0.90, "n": 5}}, {"a": {"x": 0.86, "n": 4}}]
    median, spread = report.aggregate(records)
    assert median == {"a": {"x": 0.86, "n": 4}}
    assert spread["a"]["x"] == pytest.approx(0.10) and spread["a"]["n"] == 2


def test_targets_say_met_or_by_how_much_missed():
    assert targets.at_least("acc", 0.912, 0.90) == {"target": "acc", "measured": "91.20%", "met": True, "gap": ""}
    missed = targets.at_least("acc", 0.885, 0.90)
    assert not missed["met"] and missed["gap"] == "missed by 1.50 pts"
    assert targets.at_most("size", 1_004_510, targets.ONE_MB, show=lambda v: f"{v:,.0f} B")["gap"] == \
        "missed by 4,510 B"


def test_update_readme_replaces_only_the_bench_section(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\noutro\n")
    report.update_readme(readme, "new table")
    assert readme.read_text() == f"intro\n{README_START}\nnew table\n{README_END}\noutro\n"
    (tmp_path / "other.md").write_text("no markers")
    with pytest.raises(ValueError, match="bench:start"):
        report.update_readme(tmp_path / "other.md", "x")


def test_unknown_data_set_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_main(["--data", "cifar100"])
    assert stopped.value.code == 2 and "unknown data set" in capsys.readouterr().err


@pytest.mark.slow  # about 6 minutes: every data set's slice through the whole chain
@pytest.mark.skipif(not HAS_SHARED_DATA, reason="../shared/data is not present")
def test_quick_bench_measures_every_data_set_and_writes_the_tables(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# results\n{README_START}\n{README_END}\n")
    assert bench_main(["--quick", "--data", "cifar10,sst2,trec", "--work", str(tmp_path / "work"),
                       "--results", str(tmp_path / "results"), "--readme", str(readme),
                       "--frontier", "2to4,pcqat16"]) == 0
    for name in ("cifar10", "sst2", "trec"):
        result = json.loads((tmp_path / "results" / f"{name}.json").read_text())
        ours, peer = result["median"]["ours"], result["median"]["peer"]
        assert result["runs"] == len(result["records"]) == 1 and result["quick"]
        assert set(ours["files"]) == {"saved_model/1", "tflite/float32.tflite", "tflite/float16.tflite",
                                      "tflite/dynamic.tflite", "tflite/int8.tflite"}
        int8 = ours["files"]["tflite/int8.tflite"]
        assert 0 < int8["bytes"] < ours["files"]["tflite/float32.tflite"]["bytes"]
        assert int8["latency_ms_p50"] > 0 and int8["latency_ms_p50_2_threads"] > 0
        assert ours["frontier"]["sparsity"] > ours["pruned"]["sparsity"] >= 0.45
        points = ours["methods"]
        assert set(points) == {"float32", "recipe", "pqat75", "2to4", "pcqat16"}
        assert points["recipe"]["gzip_bytes"] == int8["gzip_bytes"]
        assert points["2to4"]["stages"]["pruned"]["sparsity"] > 0
        assert result["records"][0]["ours"]["methods"]["2to4"]["weights"]["two_four"]  # (medians keep numbers only)
        assert points["pcqat16"]["weights"]["max_values_per_channel"] <= 16
        assert (tmp_path / "work" / f"frontier_{name}.png").stat().st_size > 0
        assert ours["float"]["forward_flops"] > 0 and ours["float"]["training_flops_per_second"] > 0
        assert 0 <= ours["input_pipeline"]["input_wait_fraction"] < 1
        assert peer["float"]["train_seconds"] > 0 and 0 <= peer["int8"]["accuracy"] <= 1
        assert all(isinstance(target["met"], bool) for target in result["targets"])
        assert result["hardware"]["cores"] >= 1 and result["hardware"]["matmul_flops_per_second"] > 0
    text_peer = json.loads((tmp_path / "results" / "sst2.json").read_text())["records"][0]["peer"]["qat"]
    assert text_peer["applied"] is False and "int64" in text_peer["error"]  # quantize_model fails on token ids
    section = readme.read_text()
    for header in ("| data set | runs | float |", "| data set | float training |", "| data set | point |",
                   "| data set | target |"):
        assert header in section
    assert all(section.count(f"| {name} |") >= 3 for name in ("cifar10", "sst2", "trec")) and "matmul" in section


def test_model_maker_learning_rate_rule_warms_up_then_follows_the_cosine():
    from benchmarks import model_maker

    recipe = model_maker.Recipe()  # Model Maker's defaults: lr 0.001 x batch 2 / 256, 2 warm-up epochs
    initial = 0.001 * 2 / 256
    schedule = model_maker.learning_rate_schedule(recipe, steps_per_epoch=100)
    assert float(schedule(0)) == 0.0 and float(schedule(100)) == pytest.approx(initial / 2)
    # After warm-up the cosine runs over decay_samples // batch = 1,280,000 steps, not the 1,000 of training.
    assert float(schedule(1000)) == pytest.approx(initial * 0.5 * (1 + math.cos(math.pi * 1000 / 1_280_000)))
    short = model_maker.learning_rate_schedule(model_maker.Recipe(decay_samples=0, warmup_epochs=0), 100)
    assert float(short(0)) == pytest.approx(initial) and float(short(1000)) == pytest.approx(0.0, abs=1e-12)


def test_model_maker_views_are_224_squares_in_0_1():
    from benchmarks import model_maker
    from lepton_tf.keras import tf

    photo = np.random.default_rng(0).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    recipe = model_maker.Recipe()
    for training in (True, False):
        view = model_maker.preprocess(photo, recipe, training).numpy()
        assert view.shape == (224, 224, 3) and 0.0 <= view.min() and view.max() <= 1.0
    # Evaluation: the centred square of 224/256 of the short side (262 of 300 px), nothing else.
    centre = photo[19:281, 79:341]
    expected = tf.compat.v1.image.resize([centre], [224, 224]).numpy()[0] / 255.0  # bilinear, as Model Maker
    assert np.allclose(model_maker.preprocess(photo, recipe, False).numpy(), expected, atol=1e-6)


def test_quick_photo_folder_is_photo_sized_with_train_and_test_per_class(tmp_path):
    from benchmarks import transfer

    for split, count in (("train", 12), ("test", 6)):
        for name in ("airplane", "cat", "dog", "ship"):
            for index in range(count + 1):
                write_image(tmp_path / "cifar" / split / name / f"{index:04d}.jpg", (90, 120, 200), size=32,
                            seed=index)
    folder = transfer.photo_folder(tmp_path / "work", quick_mode=True, source=tmp_path / "cifar")
    assert sorted(p.name for p in (folder / "train").iterdir()) == ["airplane", "cat", "ship"]
    for split, count in (("train", 12), ("test", 6)):
        for class_dir in (folder / split).iterdir():
            files = sorted(class_dir.glob("*.jpg"))
            assert len(files) == count
            for path in files:
                with Image.open(path) as image:
                    assert min(image.size) >= 192  # photo-sized: the chain picks the pretrained model


def test_held_out_folders_never_use_a_real_test_file(tmp_path):
    from benchmarks import held_out

    shared = tmp_path / "shared"
    header = "label\ttext\n"
    for name, files in {"sst2": ("train", "dev", "test"), "trec": ("train", "test")}.items():
        for split in files:
            rows = [f"{split}\t{name} {split} row {i}\n" for i in range(3200 if split == "train" else 50)]
            (shared / name).mkdir(parents=True, exist_ok=True)
            (shared / name / f"{split}.tsv").write_text(header + "".join(rows))
    folders = held_out.build(tmp_path / "out", shared)
    assert [folder.name for folder in folders] == ["sst2", "sst2_3k", "trec"]
    read = {folder.name: {split: (folder / f"{split}.tsv").read_text().splitlines() for split in ("train", "test")}
            for folder in folders}
    dev = (shared / "sst2" / "dev.tsv").read_text().splitlines()
    assert read["sst2"]["test"] == dev and read["sst2_3k"]["test"] == dev
    assert len(read["sst2"]["train"]) == 3201 and len(read["sst2_3k"]["train"]) == held_out.SMALL_SET_ROWS + 1
    trec_train, trec_test = read["trec"]["train"][1:], read["trec"]["test"][1:]
    assert len(trec_test) == held_out.TREC_HELD_OUT_ROWS and not set(trec_train) & set(trec_test)
    assert sorted(trec_train + trec_test) == sorted((shared / "trec" / "train.tsv").read_text().splitlines()[1:])
    assert held_out.build(tmp_path / "again", shared)[2].joinpath("test.tsv").read_text() == \
        (tmp_path / "out" / "trec" / "test.tsv").read_text()  # the same rows every time


def test_the_readme_names_each_machine_with_its_matmul_rate_and_data_sets():
    machine = {"cpu": "AMD EPYC", "cores": 2, "tensorflow": "2.21.0", "gpus": []}
    results = {"cifar10": {"hardware": {**machine, "matmul_flops_per_second": 489e9}, "date": "2026-11-24"},
               "sst2": {"hardware": {**machine, "matmul_flops_per_second": 80e9}, "date": "2026-11-30"},
               "trec": {"hardware": {**machine, "matmul_flops_per_second": 80e9}, "date": "2026-11-30"}}
    line = report.machines_line(results)
    assert "(float32 matmul 489 GFLOP/s): cifar10 2026-11-24" in line
    assert "(float32 matmul 80 GFLOP/s): sst2 2026-11-30, trec 2026-11-30" in line


def test_frontier_of_a_missing_run_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        frontier.main([str(tmp_path / "no_such_run")])
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and "no_such_run" in error and "Traceback" not in error
