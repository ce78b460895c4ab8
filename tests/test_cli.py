import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import CLASS_COLOURS, write_image
from lepton_tf.cli import build_parser, main


def lepton(*args):
    """Runs the real console entry point in a fresh process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "lepton_tf", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.parametrize("command", ["train", "prune", "quantize", "export", "evaluate", "predict"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: lepton " + command in capsys.readouterr().out


def test_user_errors_print_one_line_and_exit_2_without_traceback(tmp_path):
    missing = lepton("quantize", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "lepton: error: run folder" in missing.stderr and "not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_data = lepton("train", str(tmp_path / "run"), "--set", f"data.source={tmp_path / 'no_data'}")
    assert bad_data.returncode == 2 and "data folder not found" in bad_data.stderr
    assert "Traceback" not in bad_data.stderr


def test_config_errors_exit_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "run"), "--set", "train.epoch=3"]) == 2
    assert "unknown config key 'train.epoch'" in capsys.readouterr().err


def test_unfinished_run_cannot_be_quantized(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "model_card.json").write_text('{"status": "running", "stage": "float"}')
    assert main(["quantize", str(run_dir)]) == 2
    assert "no finished float model (status: running, stage: float)" in capsys.readouterr().err
    (run_dir / "keras").mkdir()
    (run_dir / "keras" / "float.h5").write_bytes(b"saved, but the stage never recorded its end")
    (run_dir / "model_card.json").write_text('{"status": "failed", "stage": "float"}')
    assert main(["quantize", str(run_dir)]) == 2
    assert "no finished float model (status: failed, stage: float)" in capsys.readouterr().err


def test_predict_prints_top_classes_for_every_export(quantized_run, tmp_path, capsys):
    image = write_image(tmp_path / "red.png", CLASS_COLOURS["red"], size=12, seed=99)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    for model in [quantized_run, quantized_run / "saved_model" / "1", quantized_run / "tflite" / "int8.tflite"]:
        assert main(["predict", str(model), str(image), "--top-k", "2"]) == 0
        line = capsys.readouterr().out.strip()
        assert line.startswith(f"{image}: red ") and line.count(",") == 1
    assert main(["predict", str(quantized_run), str(broken), str(image)]) == 1
    assert f"{image}: red" in capsys.readouterr().out


def test_every_command_ends_with_a_summary_of_the_card(quantized_run, tmp_path, capsys):
    run_dir = shutil.copytree(quantized_run, tmp_path / "run")
    assert main(["evaluate", str(run_dir)]) == 0
    printed = capsys.readouterr().out.splitlines()
    card = json.loads((run_dir / "model_card.json").read_text())
    assert printed[0].startswith(f"{run_dir}: resnet on ") and printed[0].endswith("status done")
    for stage in ("float", "pruned", "qat"):
        assert any(line.split()[:1] == [stage] and f"{100 * card['stages'][stage]['accuracy']:.2f}%" in line
                   for line in printed), stage
    for path, entry in card["artifacts"].items():
        row = next(line for line in printed if line.split()[0] == path)
        assert f"{entry['bytes']:,}" in row and f"{100 * entry['agreement']:.2f}%" in row
