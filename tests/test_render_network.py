"""Rendering a layered network's derivation: golden files, the lectures' lines, layouts, LaTeX that compiles."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import symback as sb
from symback import documents
from symback.cli import main
from symback.render.network import SCHEMA, render_derivation
from symback.declare.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import golden

RENDERINGS = golden.renderings()
NOTATIONS = ("udl", "cs229", "foml")


@pytest.fixture(scope="module")
def derived():
    """Each golden case's derivation, derived once."""
    return {case: load_spec(str(ROOT / spec)).derive() for case, (spec, _) in golden.CASES.items()}


# -- golden files --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, case, notation, fmt, options", RENDERINGS, ids=[r[0] for r in RENDERINGS])
def test_rendering_matches_its_golden_file(name, case, notation, fmt, options):
    path = golden.GOLDEN / name
    assert path.exists(), f"{name} is missing: run `make golden` and review it"
    assert golden.render(case, notation, fmt, options) == path.read_text(), (
        f"{name} changed: run `make golden`, review the diff and commit it"
    )


def test_every_golden_file_is_produced_by_some_rendering():
    made = {r[0] for r in RENDERINGS}
    stray = sorted(p.name for p in golden.GOLDEN.iterdir() if p.name not in made and p.suffix != ".py")  # .py: specs
    assert not stray, f"stale golden files (run `make golden`): {stray}"


# -- the lines the lectures write ------------------------------------------------------------------


def text(case, notation="udl", **options):
    return golden.render(case, notation, "text", options)


@pytest.mark.parametrize(
    "case, notation, lines",
    [
        (
            "udl_toy",
            "udl",
            [
                "dl/df_3 = 2(f_3 - y)",
                "dl/dh_3 = Omega_3^T dl/df_3",
                "dl/df_2 = I[f_2 > 0] ⊙ dl/dh_3",
                "dl/df_k = I[f_k > 0] ⊙ (Omega_{k+1}^T dl/df_{k+1})   for k = 0, 1, 2",
                "dl/dOmega_k = dl/df_k h_k^T",
                "where h_0 = x",
                "f_0 = Omega_0 x + beta_0",
                "Omega_k <- Omega_k - alpha dl/dOmega_k",
            ],
        ),
        (
            "udl_toy",
            "cs229",
            [
                "delta^[k] = I[z^[k] > 0] ∘ (W^[k+1]T delta^[k+1])   for k = 1, 2, 3",
                "dJ/dW^[k] = delta^[k] a^[k-1]T",
                "dJ/db^[k] = delta^[k]",
                "where a^[0] = x",
            ],
        ),
        (
            "cs229_two_layer",
            "cs229",
            [
                "J     = (z^[2] - y)^2/2",
                "delta^[2] = z^[2] - y",
                "dJ/da^[1] = W^[2]T delta^[2]",
                "W^[2] <- W^[2] - alpha (z^[2] - y) a^[1]T",
            ],
        ),
        ("cs229_one_neuron", "cs229", ["W^[1] <- W^[1] - alpha ((a^[1] - y) ∘ I[z^[1] > 0]) x^T"]),
        (
            "foml_sigmoid",
            "foml",
            [
                "x^(1) = sigma(s^(1))",
                "dl/ds^(3) = x^(3) ⊙ (1 - x^(3)) ⊙ dl/dx^(3)",
                "dl/ds^(k) = x^(k) ⊙ (1 - x^(k)) ⊙ (W^(k+1)T dl/ds^(k+1))   for k = 1, 2",
                "dl/dW^(k) = dl/ds^(k) x^(k-1)T",
            ],
        ),
        (
            "cs7643_softmax",
            "udl",
            [
                "p   = softmax(f_0) = exp(f_0)/(sum_j exp(f_0[j]))",
                "dl/df_0 = p - e_y",
                "e_y is the\none-hot vector of the class y",
            ],
        ),
        (
            "cs7643_perceptron",
            "udl",
            ["h_1 = sigma(f_0)", "dl/df_0 = h_1 - y   (fused", "Omega_0 <- Omega_0 - alpha (h_1 - y) x^T"],
        ),
    ],
)
def test_the_lectures_lines_appear(case, notation, lines):
    out = text(case, notation)
    for line in lines:
        assert line in out, f"{case} in {notation}: missing {line!r}"


@pytest.mark.parametrize(
    "notation, layout", [("udl", "denominator"), ("cs229", "denominator"), ("foml", "denominator")]
)
def test_output_states_the_layout_in_use(notation, layout):
    assert f"Layout: {layout}." in text("udl_toy", notation)
    assert "Layout: numerator." in text("udl_toy", notation, layout="numerator")


# -- layouts ---------------------------------------------------------------------------------------


def test_numerator_layout_writes_the_backward_quantities_as_rows():
    out = text("udl_toy", "cs229", layout="numerator")
    assert "dJ/da^[3] = delta^[4] W^[4]" in out  # (W^T delta)^T = delta^T W
    assert "delta^[k] = (delta^[k+1] W^[k+1]) ∘ I[z^[k] > 0]^T" in out
    assert "dJ/dW^[2] = a^[1] delta^[2]" in out  # laid out like W^T
    assert "W^[k] <- W^[k] - alpha (dJ/dW^[k])^T" in out
    row = next(line for line in out.splitlines() if line.startswith("  dJ/da^[3]"))
    assert row.endswith("1×3")
    forward = next(line for line in out.splitlines() if line.startswith("  a^[1]"))
    assert forward.endswith("3×1")  # forward quantities stay columns


def test_denominator_layout_writes_them_as_columns():
    out = text("udl_toy", "cs229", layout="denominator")
    row = next(line for line in out.splitlines() if line.startswith("  dJ/da^[3]"))
    assert "W^[4]T delta^[4]" in row and row.endswith("3×1")
    assert "dJ/dW^[2] = delta^[2] a^[1]T" in out


# -- minibatch and steps ---------------------------------------------------------------------------


def test_minibatch_form_averages_over_the_columns():
    out = text("udl_toy", "udl", batch=True)
    assert "F_0 = Omega_0 X + beta_0 1^T" in out
    assert "Delta_2 = I[F_2 > 0] ⊙ (Omega_3^T Delta_3)" in out
    assert "dL/dOmega_1 = (1/B) Delta_1 H_1^T" in out
    assert "dL/dbeta_1  = (1/B) Delta_1 1" in out
    assert "L   = (1/B) sum_i l_i" in out


def test_minibatch_form_with_sum_reduction_has_no_one_over_b():
    net = sb.Network(3, [sb.Dense(4, "tanh"), sb.Dense(2)], loss="mse", reduction="sum")
    out = net.derive().render("text", notation="cs229", batch=True)
    assert "dJ/dW^[2] = Delta^[2] A^[1]T" in out
    assert "(1/B)" not in out
    assert "reduction='sum'" in out
    assert "sums these gradients" in net.derive().render("text", notation="cs229")


def test_numerator_minibatch_stacks_rows():
    out = text("foml_sigmoid", "foml", batch=True, layout="numerator")
    assert "dL/dW^(2) = (1/B) X^(1) Delta^(2)" in out
    assert "dL/db^(2) = (1/B) 1^T Delta^(2)" in out
    assert "one row per sample" in " ".join(out.split())


def test_steps_multiply_in_one_local_derivative_at_a_time():
    out = text("udl_toy", "udl", steps=True)
    assert "dl/df_2     = dh_3/df_2 dl/dh_3" in out
    assert "= dh_3/df_2 (df_3/dh_3 dl/df_3)" in out
    assert "where dh_3/df_2 = diag(I[f_2 > 0])" in out
    assert "where df_3/dh_3 = Omega_3^T" in out
    assert "dl/df_3     = d/df_3 [(f_3 - y)^2]" in out


def test_steps_are_the_unsimplified_derivation():
    out = text("cs7643_softmax", "udl", steps=True)
    steps = out.split("Step by step")[1].split("Parameter gradients")[0]
    assert "exp(f_0)/(sum_j exp(f_0[j])) - e_y" in steps  # before the softmax rewrite
    assert "p - e_y" in out.split("Step by step")[0]  # the simplified form above
    perceptron = sb.Network(3, [sb.Dense(2, "sigmoid")], loss="bce").derive()
    steps = perceptron.render("text", steps=True).split("Step by step")[1]
    assert "= d/dh_1 [sum_j" in steps and "where dh_1/df_0 = diag(exp(-f_0)/(1 + exp(-f_0))^2)" in steps  # SymPy's own, unsimplified


def test_numerator_steps_multiply_on_the_right():
    out = text("foml_sigmoid", "foml", steps=True, layout="numerator")
    assert "dl/dx^(2) = dl/ds^(3) ds^(3)/dx^(2)" in out
    assert "where ds^(3)/dx^(2) = W^(3)" in out


# -- every network in the corpus, every notation and option: 80 columns -----------------------------


def _corpus():
    sys.path.insert(0, str(ROOT / "tests"))
    from cases import networks

    return networks()


CORPUS = _corpus()
OPTIONS = [{}, {"layout": "numerator"}, {"batch": True}, {"steps": True}]


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_text_fits_80_columns_in_every_notation_and_option(case):
    d = CORPUS[case].derive()
    for notation in NOTATIONS:
        for options in OPTIONS:
            out = render_derivation(d, "text", notation, **options)
            wide = [line for line in out.splitlines() if len(line) > 80]
            assert not wide, f"{case} {notation} {options}: {wide[0]!r} is {len(wide[0])} columns"
            for fmt in ("latex", "markdown", "json"):
                assert render_derivation(d, fmt, notation, **options)


def test_golden_text_files_fit_80_columns():
    for path in golden.GOLDEN.glob("*.txt"):
        for line in path.read_text().splitlines():
            assert len(line) <= 80, f"{path.name}: {line!r}"


def test_symbolic_widths_render():
    net = sb.Network("d", [sb.Dense("m", "relu"), sb.Dense(1)], loss="mse")
    out = net.derive().render("text", notation="cs229")
    assert "dJ/dW^[1] = delta^[1] x^T" in out
    assert next(line for line in out.splitlines() if line.startswith("  dJ/dW^[1]")).endswith("m×d")


def test_dag_derivations_render_too():
    for example in ("residual.py", "foml_dag.py"):
        d = load_spec(str(ROOT / "examples" / example)).derive()
        for fmt in ("text", "latex", "markdown", "json"):
            assert render_derivation(d, fmt, "udl")
    d = load_spec(str(ROOT / "examples" / "foml_dag.py")).derive()
    out = d.render("text")
    assert "dl/dx1         = dl/dx1 (via c) + dl/dx1 (via m)" in out
    assert "c  = [x0; x1]" in out


# -- JSON --------------------------------------------------------------------------------------------

FIELDS = {"name", "symbol", "latex", "kind", "layer", "shape", "expr", "expr_text", "expr_latex", "role", "of", "op"}


def parse_expr(q: dict, quantities: list) -> sp.Expr:
    """A quantity's `expr` read back: MatrixSymbols in linear ones, component symbols in elementwise ones."""
    text = q["expr"]
    if q["op"] == "linear":
        names = {o["name"]: sp.MatrixSymbol(o["name"], *(o["shape"] + [1])[:2]) for o in quantities if o["shape"]}
    else:  # a component symbol; f[j] is component j of f (in sums)
        names = {o["name"]: sp.Symbol(o["name"]) for o in quantities}
        text = re.sub(r"\b(\w+)\[", r"\1__entry[", text)
        names.update({o["name"] + "__entry": sp.IndexedBase(o["name"]) for o in quantities})
    return sp.sympify(text, locals={**names, "Indicator": sb.Indicator})


@pytest.mark.parametrize("case", sorted(golden.CASES))
def test_json_schema(case, derived):
    d = derived[case]
    data = json.loads(render_derivation(d, "json", "cs229"))
    assert data["schema"] == SCHEMA
    assert {"notation", "layout", "form", "network", "params", "gradients", "quantities", "sections"} <= set(data)
    assert data["notation"] == "cs229" and data["layout"] == "denominator"
    names = [q["name"] for q in data["quantities"]]
    assert names == [n.name for n in d.graph]
    for q in data["quantities"]:
        assert set(q) == FIELDS
        assert q["role"] in ("forward", "adjoint")
        assert all(isinstance(s, (int, str)) for s in q["shape"])
        if q["expr"] is not None:  # SymPy syntax over IR names
            expr = parse_expr(q, data["quantities"])
            BOUND = {"i", "j", "b", "B", "o", "c", "u", "v", "m", "n"}  # components, batch, conv/pool indices
            sizes = {w for q in data["quantities"] for s in q["shape"] if isinstance(s, str)
                     for w in re.findall(r"[A-Za-z_]\w*", s)}  # symbolic widths (an image's H, W)
            assert {s.name for s in expr.atoms(sp.Symbol, sp.MatrixSymbol)} <= set(names) | BOUND | sizes
    for p, g in data["gradients"].items():
        q = data["quantities"][names.index(g)]
        assert q["role"] == "adjoint" and q["of"] == p
    titles = [s["title"] for s in data["sections"]]
    assert "Parameter gradients" in titles
    backward = data["sections"][2]
    assert backward["title"].startswith("Backward") and any(it["lhs"].startswith("delta^[") for it in backward["items"])


def test_json_equation_lines_carry_both_text_and_latex(derived):
    data = json.loads(render_derivation(derived["udl_toy"], "json", "udl", steps=True))
    eqs = [it for s in data["sections"] for it in s["items"] if "lhs" in it]
    assert all(len(e["rhs"]) == len(e["rhs_latex"]) for e in eqs)
    assert any(e["lhs"] == "dl/df_k" and e["where"] == "for k = 0, 1, 2" for e in eqs)
    assert any(s["title"].startswith("Step by step") for s in data["sections"])


# -- Jupyter -------------------------------------------------------------------------------------


def test_jupyter_hooks_render_latex_and_markdown(derived):
    d = derived["cs229_two_layer"]
    assert d._repr_latex_().startswith("\\begin{align*}")
    md = d._repr_markdown_()
    assert md.count("$$") % 2 == 0 and "\\begin{aligned}" in md
    assert str(d).startswith("Network: 3 -> 4 (relu) -> 1")


def test_bad_options_are_one_line_errors(derived):
    d = derived["udl_toy"]
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        d.render("pdf")
    with pytest.raises(ValueError, match="unknown notation 'cs231'"):
        d.render("text", notation="cs231")
    with pytest.raises(ValueError, match="unknown layout 'rows'"):
        d.render("text", layout="rows")


# -- the CLI -------------------------------------------------------------------------------------


def test_cli_derive_prints_the_golden_text(capsys):
    assert main(["derive", "examples/udl_toy.py", "--notation", "udl"]) == 0
    assert capsys.readouterr().out == (golden.GOLDEN / "udl_toy.udl.txt").read_text()


def test_cli_derive_options(capsys):
    spec = str(ROOT / "examples/cs229_two_layer.py") + ":two_layer"
    assert main(["derive", spec, "--notation", "cs229", "--steps"]) == 0
    assert capsys.readouterr().out == (golden.GOLDEN / "cs229_two_layer.cs229.steps.txt").read_text()
    assert main(["derive", spec, "--notation", "cs229", "--format", "latex", "--batch"]) == 0
    assert capsys.readouterr().out == (golden.GOLDEN / "cs229_two_layer.cs229.batch.tex").read_text()
    assert main(["derive", spec, "--json", "--notation", "foml", "--layout", "numerator"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layout"] == "numerator" and data["notation"] == "foml"
    assert main(["derive", spec, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["notation"] == "udl"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["derive", "examples/cs229_two_layer.py"], "declares several networks (one_neuron, two_layer)"),
        (["derive", "examples/nope.py"], "no such file"),
        (["derive", "examples/udl_toy.py", "--notation", "cs231"], "invalid choice: 'cs231'"),
        (["derive", "examples/udl_toy.py", "--layout", "rows"], "invalid choice: 'rows'"),
    ],
)
def test_cli_derive_bad_input_exits_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]


# -- LaTeX compiles ------------------------------------------------------------------------------

TEX_FILES = sorted(golden.GOLDEN.glob("*.tex"))
PDFLATEX = shutil.which("pdflatex")
PREAMBLE = documents.PREAMBLE + "\\begin{document}\n"  # the one preamble symback writes (--standalone)


def _pdflatex(folder: Path, body: str) -> tuple[bool, list[str]]:
    """`body` in symback's preamble, through pdflatex in `folder`: (compiled to a PDF, its "!" error lines)."""
    doc = folder / "doc.tex"
    doc.write_text(PREAMBLE + body + "\\end{document}\n")
    proc = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors = [line for line in proc.stdout.splitlines() if line.startswith("!")]
    return proc.returncode == 0 and (folder / "doc.pdf").exists(), errors


@pytest.fixture(scope="module")
def golden_together(tmp_path_factory) -> bool:
    """Every golden .tex file in one document, each in a group of its own (its definitions stay local), one
    pdflatex run instead of 48 (0.12 s of CPU each). False when it fails: then each test compiles its file alone
    and names the one that does not compile."""
    body = "".join(f"\\begingroup\n{p.read_text()}\n\\endgroup\n\\clearpage\n" for p in TEX_FILES)
    return _pdflatex(tmp_path_factory.mktemp("golden_tex"), body)[0]


@pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex is missing: `make test` installs it (apt-get install texlive-latex-base)"
)
@pytest.mark.parametrize("path", TEX_FILES, ids=[p.name for p in TEX_FILES])
def test_golden_latex_compiles_with_pdflatex(path, golden_together, tmp_path):
    if golden_together:  # this file compiled, in its own group, with all the others
        return
    ok, errors = _pdflatex(tmp_path, path.read_text())
    assert ok, f"{path.name} does not compile: {errors}"


@pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex is missing: `make test` installs it (apt-get install texlive-latex-base)"
)
def test_markdown_math_compiles_with_pdflatex(tmp_path):
    """Every $$ block of the golden Markdown, as display math."""
    blocks = []
    for path in sorted(golden.GOLDEN.glob("*.md")):
        parts = path.read_text().split("$$")
        blocks += [f"% {path.name}\n\\[\n{b.strip()}\n\\]" for b in parts[1::2]]
    ok, errors = _pdflatex(tmp_path, "\n".join(blocks) + "\n")
    assert ok, errors
