"""Inference-only modules (`symback compile --inference`): the forward pass alone, equal bit for bit to the
training module's forward, with `predict` for classifiers and no loss, gradient or update code."""

from __future__ import annotations

import ast
import hashlib
import json

import numpy as np
import pytest

from symback.cli import main as cli
from symback.codegen import compile_derivation, generate
from symback.codegen.module import CLASSIFIER, INFERENCE, copy_runtime
from symback.declare.spec import load_spec
from tests.codegen_support import (
    ALL,
    CACHE,
    ROOT,
    batch,
    compiled,
    example_specs,
    layout_modules,
    perturbed,
    unused_names,
    with_layout,
)

NETS = {k: n for k, n in example_specs() if k in ("udl_toy", "train_digits", "two_inputs")}
_MODULES: dict = {}


def inference(key: str, net, layouts=None):
    """The inference module of `net`, compiled once per process into the codegen tests' cache folder."""
    if (key, layouts) not in _MODULES:
        name = "i_" + hashlib.sha256(f"{key}|{layouts}".encode()).hexdigest()[:12]
        CACHE.mkdir(parents=True, exist_ok=True)
        _MODULES[key, layouts] = compile_derivation(net.derive(), CACHE / f"{name}.py", source=f"tests ({key})",
                                                    force=True, layouts=layouts, inference=True)
    return _MODULES[key, layouts]


def kernels(text: str) -> str:
    """The generated kernels: from the first njit kernel to the copied runtime."""
    return text[text.index("@njit"):text.index("# -- the Python side")]


#: the largest difference from the training module's forward, relative to its largest output, where the inference
#: module runs another loop layout (sample-outer loops at batch 1 and 2 where the training module uses BLAS)
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.mark.parametrize("key", sorted(NETS))
def test_forward_equals_the_training_module(key):
    """Bit for bit where both modules run the same layout, to TOLERANCE where they do not; `predict` in both."""
    full, _, plan = compiled(key, NETS[key])
    inf = inference(key, NETS[key])
    rng = np.random.default_rng(1)
    for dtype in (np.float64, np.float32):
        params = perturbed(full, rng, dtype)
        for B in (1, 3, 64):  # every layout the thresholds choose
            X, _ = batch(plan, B, rng, dtype)
            want = full.forward(params, X)
            got = inf.forward(inf.Params(params.flat), X)  # the same buffer (a Params is its module's own)
            assert got.dtype == dtype and got.shape == want.shape
            if inf._layout(B) == full._layout(B):
                assert np.array_equal(got, want), (key, dtype, B)
            else:
                assert np.max(np.abs(got - want)) <= TOLERANCE[dtype] * np.max(np.abs(want)), (key, dtype, B)
            if len(plan.inputs) > 1:  # the inputs by name
                assert np.array_equal(inf.forward(dict(params), {n: X[:, c:c + k] for n, c, k in plan.inputs}), got)
            if plan.labels:
                assert np.array_equal(inf.predict(dict(params), X), np.argmax(got, axis=1))
                assert np.array_equal(full.predict(params, X), np.argmax(want, axis=1))
            else:
                assert not hasattr(inf, "predict") and not hasattr(full, "predict")
        plain = {k: np.array(v) for k, v in params.items()}  # a plain dict works too
        assert np.array_equal(inf.forward(plain, X), got)
        with pytest.raises(ValueError, match=r"another generated module.*Params\(params.flat\)"):
            inf.forward(params, X)  # the training module's Params: its kernels are not this module's


def test_digits_inference_runs_loops_at_batch_1_and_2():
    """A forward pass alone of 64 x 64 weights: sample-outer loops at batch 1 and 2, BLAS beyond (the training
    module, whose backward pass favours BLAS, keeps it at every batch)."""
    full, _, _ = compiled("train_digits", NETS["train_digits"])
    inf = inference("train_digits", NETS["train_digits"])
    assert [inf._layout(B) for B in (1, 2, 3, 256)] == ["sample", "sample", "blas", "blas"]
    assert {full._layout(B) for B in (1, 2, 3, 256)} == {"blas"}


def test_every_layout_equals_the_training_module_bitwise():
    """In each layout, the training module's kernel (in its own module or one of the other layouts) and the
    inference module's give the same forward pass bit for bit."""
    net = NETS["udl_toy"]
    modules, _, plan = layout_modules("udl_toy", net)
    inf = inference("udl_toy", net, layouts=ALL)
    rng = np.random.default_rng(2)
    for layout in ALL:
        full = modules[layout]
        params = perturbed(full, rng)  # a Params of its own: its workspaces are made in this layout
        with with_layout(full, layout), with_layout(inf, layout):
            for B in (1, 7):
                X, _ = batch(plan, B, rng)
                assert np.array_equal(inf.forward(inf.Params(params.flat), X), full.forward(params, X)), (layout, B)


def test_bad_input_is_refused():
    inf = inference("train_digits", NETS["train_digits"])
    params = inf.init_params()
    X = np.zeros((2, 64))
    X[1, 3] = np.nan
    for bad, words in ((X, "NaN"), (np.zeros((2, 63)), "shape"), (np.zeros((2, 64), np.float32), "dtype")):
        with pytest.raises(ValueError, match=words):
            inf.predict(params, bad)
    with pytest.raises(ValueError, match="missing 'b2'"):
        inf.forward({k: v for k, v in params.items() if k != "b2"}, np.zeros((1, 64)))


@pytest.mark.parametrize("key", sorted(NETS))
def test_source_has_no_gradient_code(key):
    d = NETS[key].derive()
    full, inf = generate(d, f"examples/{key}.py"), generate(d, f"examples/{key}.py", inference=True)
    body = kernels(inf)
    for word in ("dl_", "loss", "Y[", "mode ==", "SGD", "scale", "lr *"):
        assert word not in body, word
    for residue in ("if False", "range(1)", "mode == 0", "*1 + "):
        assert residue not in inf, residue
    defined = {n.name for n in ast.parse(inf).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    labels = "predict" in defined
    assert set(INFERENCE) <= defined and labels == (key != "udl_toy")  # digits and two_inputs are classifiers
    assert not defined & {"loss_and_grad", "sgd_step"}
    assert copy_runtime(inf, INFERENCE + CLASSIFIER * labels) in inf  # the runtime it reaches, verbatim
    assert unused_names(inf) == []  # no optimizer constants, Gradients or archive imports in a forward-only module
    lines = len(inf.splitlines()), len(full.splitlines())
    assert lines[0] < 0.85 * lines[1], lines
    doc = ast.get_docstring(ast.parse(inf))
    assert doc.startswith("Inference kernels for") and "forward(params, X, out=None)" in doc and "sgd_step" in doc
    assert ("predict(params, X)" in doc) == labels and "loss_and_grad(params" not in doc


def test_cli_writes_an_inference_module(tmp_path, capsys, monkeypatch):
    out = tmp_path / "toy_infer.py"
    spec = str(ROOT / "examples" / "udl_toy.py")
    assert cli(["compile", spec, "-o", str(out), "--inference", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inference"] is True and data["status"] == "written"
    text = out.read_text()
    assert f"(symback compile {spec} --inference)" in text.splitlines()[0]
    d = load_spec(spec).derive()
    want = generate(d, spec, command=f"symback compile {spec} --inference", inference=True)
    assert text.split("\n", 3)[3] == want.split("\n", 3)[3]  # the same module as the Python API's (bar the hash)
    assert cli(["compile", spec, "-o", str(out), "--inference"]) == 0  # again: unchanged
    assert "unchanged" in capsys.readouterr().out
    (tmp_path / "generated").mkdir()
    monkeypatch.chdir(tmp_path)  # without -o: beside the training module, never over it
    assert cli(["compile", spec, "--inference"]) == 0
    assert (tmp_path / "generated" / "udl_toy_inference.py").read_text().split("\n", 3)[3] == text.split("\n", 3)[3]
    assert not (tmp_path / "generated" / "udl_toy.py").exists()

