"""examples/tour.ipynb runs top to bottom in the venv's Python, so it never goes stale."""

import json
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' for the notebook test")
nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' for the notebook test")
pytest.importorskip("ipykernel", reason="pip install -e '.[test]' for the notebook test")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed (make test installs it)")
def test_the_tour_notebook_runs(tmp_path, monkeypatch):
    # a kernel spec of our own, first on JUPYTER_PATH: the kernel is this interpreter, whatever else is installed
    spec = tmp_path / "kernels" / "symback-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "symback (test)", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    nb = nbformat.read(EXAMPLES / "tour.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="symback-test", resources={"metadata": {"path": str(EXAMPLES)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    kinds = {k for o in outputs for k in o.get("data", {})}
    assert {"image/svg+xml", "image/png", "text/latex", "text/markdown"} <= kinds
    text = "".join(o.get("text", "") for o in outputs)
    assert "already computed!" in text and "relu · glorot  vanishing" in text
    # the network displays in the notation chosen at derive (CS229's delta^[k]); its show(notation="udl") as LaTeX
    data = [o.get("data", {}) for o in outputs]
    cs229 = next(d for d in data if r"\delta^{[1]}" in d.get("text/markdown", ""))
    assert r"\delta^{[1]}" in cs229["text/latex"] and r"\boldsymbol{\Omega}" not in cs229["text/latex"]
    udl = next(d for d in data if r"\boldsymbol{\Omega}_{0}" in d.get("text/latex", ""))
    assert "text/markdown" not in udl and "Omega_0" in udl["text/plain"]
