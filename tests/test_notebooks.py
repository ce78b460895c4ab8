"""The tutorials run top to bottom (quick mode) and stay reviewable in git."""

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs_and_matches_its_paired_script(path):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") and not cell.get("execution_count") for cell in notebook.cells
               if cell.cell_type == "code"), f"{path.name} has outputs: run `make notebooks-sync` (regenerates it from its .py, without outputs)"
    script = jupytext.read(path.with_suffix(".py"))
    assert [c.source for c in script.cells] == [c.source for c in notebook.cells], \
        f"{path.name} and {path.with_suffix('.py').name} differ: run `make notebooks-sync`"


@pytest.mark.slow  # 1.5-6 minutes a notebook; `make notebooks` runs them too
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_in_quick_mode(path, monkeypatch):
    monkeypatch.setenv("LEPTON_QUICK", "1")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    images = [output for cell in notebook.cells for output in cell.get("outputs", [])
              if "image/png" in output.get("data", {})]
    assert images, f"{path.name} rendered no plots"
