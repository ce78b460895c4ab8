"""README's Python API example runs as printed."""

import re
import subprocess
import sys

import pytest

from conftest import REPO


def readme_api_example():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Python API"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow  # about 3 minutes: the README's whole chain on CIFAR-10 files
def test_the_python_api_example_runs_as_printed(tmp_path):
    done = subprocess.run([sys.executable, "-c", readme_api_example()], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1200, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                             "TF_CPP_MIN_LOG_LEVEL": "2", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "saved_models" / "api_digits"
    assert "tflite/int8.tflite" in done.stdout and "[[('" in done.stdout  # top-2 pairs of one input
    assert (run_dir / "MODEL_CARD.md").is_file() and (run_dir / "confusion_matrix.png").is_file()
