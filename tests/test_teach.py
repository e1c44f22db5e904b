"""Teach it: the computation-graph picture and the step-by-step narrative, with the lectures' numbers."""

import contextlib
import io
import json
import os
import re
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import symback as sb
from symback.api import explain, resolve
from symback.cli import main
from symback.errors import SymbackError
from symback.files import write_atomic
from symback.teach.dot import GRAD_COLOR, VALUE_COLOR
from symback.teach.draw import picture

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz 'dot' not installed (make test installs it)"
)

CIRCUIT = "q = x + y; f = q*z"  # CS 7643: f = (x + y) z with the intermediate named q
POINT = "x=-2,y=5,z=-4"
TOY_STEPS = (  # UDL's scalar toy network, depth 3, ReLU, least squares: the lecture's named steps
    "f0 = b0 + w0*x; h1 = Max(0, f0); f1 = b1 + w1*h1; h2 = Max(0, f1); "
    "f2 = b2 + w2*h2; h3 = Max(0, f2); f3 = b3 + w3*h3; l = (f3 - y)^2"
)
UDL_ORDER = ["b0", "w0", "b1", "w1", "b2", "w2", "b3", "w3"]  # beta0, omega0, beta1, ...
TOY_POINT = {"x": 1, "y": 2, "b0": "1/2", "w0": 1, "b1": "1/10", "w1": "1/2", "b2": 1, "w2": 2, "b3": 0, "w3": 3}


def run(*argv):
    """The CLI in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def svg_numbers(path, color):
    """The numbers written in `color` in an SVG, in document order."""
    texts = ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")
    return [t.text for t in texts if t.get("fill") == color and re.fullmatch(r"-?[\d./]+", t.text or "")]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# -- the picture ------------------------------------------------------------


def test_circuit_wires_carry_the_lecture_values_and_gradients():
    """(x + y) z at (-2, 5, -4): values -2, 5, -4, q = 3, f = -12; gradients -4, -4, 3, df/dq = -4, df/df = 1."""
    pic = picture(*_resolved(CIRCUIT, POINT))
    wires = {(w.src, w.dst): (int(w.value), int(w.grad)) for w in pic.wires}
    assert wires == {
        ("x", "q"): (-2, -4),
        ("y", "q"): (5, -4),
        ("z", "f"): (-4, 3),
        ("q", "f"): (3, -4),
        ("f", "(output)"): (-12, 1),
    }
    kinds = {i: (k, label) for i, k, label in ((b.id, b.kind, b.label) for b in pic.boxes)}
    assert kinds["x"] == ("input", "x") and kinds["q"] == ("gate", "+") and kinds["f"] == ("gate", "×")


def _resolved(source, at=None):
    """(derivation, values): what teach's picture takes, resolved by the facade."""
    derivation, values, _ = resolve(source, at)
    return derivation, values


@needs_dot
def test_circuit_svg_shows_values_in_green_and_gradients_in_red(tmp_path):
    path = sb.draw(CIRCUIT, at=POINT, path=tmp_path / "circuit.svg")
    assert path == tmp_path / "circuit.svg"
    assert sorted(svg_numbers(path, VALUE_COLOR)) == sorted(["-2", "5", "-4", "3", "-12"])
    assert sorted(svg_numbers(path, GRAD_COLOR)) == sorted(["-4", "-4", "3", "-4", "1"])
    text = path.read_text()
    assert "×" in text and ">+<" in text  # the gates
    assert [p.name for p in tmp_path.iterdir()] == ["circuit.svg"]  # no temporary file left behind


@needs_dot
def test_png_is_a_real_left_to_right_picture(tmp_path):
    g = sb.grad("(x + y)*z")
    path = sb.draw(g.at(x=-2, y=5, z=-4), path=tmp_path / "circuit.png")
    width, height = png_size(path.read_bytes())
    assert width > height > 100 and width > 400  # rankdir=LR at 144 dpi
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)  # not the temp file's private mode


@needs_dot
def test_a_value_used_twice_branches_and_the_trunk_shows_the_sum(tmp_path):
    """f = x y + sin(x y) at (1, 2): v1 = x y feeds sin and +; df/dv1 = 1 + cos(2)."""
    pic = picture(*_resolved("x*y + sin(x*y)", "x=1,y=2"))
    branch = [i for i, k in ((b.id, b.kind) for b in pic.boxes) if k == "branch"]
    assert branch == ["v1(branch)"]
    trunk = next(w for w in pic.wires if w.dst == "v1(branch)")
    assert trunk.text == "(-0.4161) + 1 = 0.5839"
    assert sorted(w.dst for w in pic.wires if w.src == "v1(branch)") == ["f", "v2"]
    path = sb.draw("x*y + sin(x*y)", at={"x": 1, "y": 2}, path=tmp_path / "branch.svg")
    assert "0.5839" in path.read_text()


def test_without_a_point_the_wires_carry_the_symbolic_gradient():
    pic = picture(*_resolved(CIRCUIT))
    grads = {(w.src, w.dst): w.text for w in pic.wires}
    # the lecture's local gradients: df/dq = z, df/dz = q; x and y receive df/dq
    assert grads == {("x", "q"): "df/dq", ("y", "q"): "df/dq", ("z", "f"): "q", ("q", "f"): "z", ("f", "(output)"): "1"}
    assert all(w.value is None for w in pic.wires)


def test_dot_source_needs_no_graphviz_program(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    path = sb.draw(CIRCUIT, at=POINT, path=tmp_path / "circuit.dot")
    source = path.read_text()
    assert source.startswith("digraph") and "rankdir=LR" in source and "-12" in source


def test_write_is_atomic_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "graph.svg"
    target.write_text("old picture")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SymbackError, match="disk full"):  # one line for the CLI, old file kept
        write_atomic(target, b"new picture")
    assert target.read_text() == "old picture"
    assert [p.name for p in tmp_path.iterdir()] == ["graph.svg"]


# -- the narrative ----------------------------------------------------------


def test_circuit_narrative_forward_then_backward_with_lecture_numbers():
    text = str(explain(CIRCUIT, at=POINT))
    assert "q = x + y = -2 + 5 = 3" in text
    assert "f = q·z = 3·(-4) = -12" in text
    assert "B1. df/df = 1" in text
    # each step: upstream × local, symbolically, then in numbers
    assert "B2. df/dq = df/df × ∂f/∂q" in text and "= 1 × (-4) = -4" in text
    assert "B3. df/dx = df/dq × ∂q/∂x" in text and "B4. df/dy = df/dq × ∂q/∂y" in text
    assert text.count("= -4 × 1 = -4") == 2
    assert "B5. df/dz = df/df × ∂f/∂z" in text and "= 1 × 3 = 3" in text
    # df/dq is computed once and reused by df/dx and df/dy
    assert text.count("df/dq: already computed! (B2)") == 2
    assert "df/dq (B2) is reused by df/dx (B3), df/dy (B4)" in text
    assert "∂f/∂z = q reads q (F1), already computed in the forward pass" in text
    assert "add gate" in text and "mul gate" in text
    result = text.split("Result")[1]
    assert "df/dx = z = -4" in result and "df/dy = z = -4" in result and "df/dz = q = 3" in result


def test_circuit_narrative_as_data():
    data = explain(CIRCUIT, at=POINT).to_dict()
    assert [(f["node"], f["value"]) for f in data["forward"]] == [("q", 3), ("f", -12)]
    steps = {b["gradient"]: b for b in data["backward"]}
    assert {k: b["value"] for k, b in steps.items()} == {"df/df": 1, "df/dq": -4, "df/dx": -4, "df/dy": -4, "df/dz": 3}
    assert steps["df/dq"]["reused_by"] == ["B3", "B4"]
    assert steps["df/dx"]["factors"] == [
        {
            "consumer": "q",
            "upstream": "df/dq",
            "already_computed": "B2",
            "local": "1",
            "reads": [],
            "upstream_value": -4,
            "local_value": 1,
            "value": -4,
        }
    ]


def test_gradients_add_at_a_branch_in_the_narrative():
    text = str(explain("x*y + sin(x*y)", at="x=1,y=2"))
    assert "v1 feeds 2 gates (f, v2): gradients add at this branch" in text
    assert "df/dv1 = df/df × ∂f/∂v1 + df/dv2 × ∂v2/∂v1" in text
    assert "= 1 × 1 + 1 × (-0.416147) = 0.583853" in text


def test_narrative_without_a_point_is_symbolic():
    text = str(explain("(x + y)*z"))
    assert "=" in text and "-12" not in text and "× (-4)" not in text
    assert "df/dv1: already computed! (B2)" in text
    assert "df/dx = z" in text


def test_toy_network_narrative_lists_parameter_derivatives_in_udl_order_with_reuse():
    ex = explain(TOY_STEPS, at=TOY_POINT, wrt=UDL_ORDER)
    text = str(ex)
    # forward: the lecture's series of intermediate calculations, in order
    forward = re.findall(r"F\d+\. (\w+) =", text)
    assert forward == ["f0", "h1", "f1", "h2", "f2", "h3", "f3", "l"]
    part1, part2 = text.split("Part 1:")[1].split("Part 2:")
    # part 1: the intermediates in reverse order; part 2: the eight parameters in the lecture's order
    assert re.findall(r"B\d+\. dl/d(\w+) =", part1) == ["l", "f3", "h3", "f2", "h2", "f1", "h1", "f0"]
    assert re.findall(r"B\d+\. dl/d(\w+) =", part2) == UDL_ORDER
    steps = {b.of: b for b in ex.backward}
    for k in range(4):
        df = steps[f"f{k}"].step
        for p in (f"b{k}", f"w{k}"):
            (factor,) = steps[p].terms
            assert factor.upstream_step == df  # dl/dparam reuses dl/df_k, already computed
        assert f"dl/df{k}: already computed! ({df})" in part2
    assert "∂f3/∂w3 = h3 reads h3 (F6), already computed in the forward pass" in text
    assert "dl/df3 (B2) is reused by dl/dh3 (B3), dl/db3 (B15), dl/dw3 (B16)" in text
    # the numbers are the worked table's
    table = sb.grad(TOY_STEPS, wrt=UDL_ORDER).at(TOY_POINT)
    assert {p: steps[p].value for p in UDL_ORDER} == dict(table.grad)
    assert steps["w3"].value == sb.grad(TOY_STEPS).at(TOY_POINT).grad["w3"]


def test_latex_and_markdown_mark_reuse_under_the_factor():
    ex = explain(CIRCUIT, at=POINT)
    latex = ex.render("latex")
    assert r"\underbrace{\frac{d f}{d q}}_{\text{already computed! (B2)}}" in latex
    assert r"3 \times \left(-4\right) = -12" in latex
    assert latex.count(r"\begin{align*}") == latex.count(r"\end{align*}") == 2
    assert latex.count("{") == latex.count("}")
    markdown = ex.render("markdown")
    assert "#### Forward pass" in markdown and "**B4.**" in markdown
    assert r"\frac{d f}{d z}" in markdown and "= 3$" in markdown


def test_each_note_reads_the_same_in_every_format():
    """A note is worded once: text, LaTeX and Markdown differ only in markup."""
    ex = explain(CIRCUIT, at=POINT)
    text, latex, markdown = str(ex), ex.render("latex"), ex.render("markdown")
    assert "↳ ∂f/∂z = q reads q (F1), already computed in the forward pass" in text
    reads = r"$\frac{\partial f}{\partial z} = q$ reads $q$ (F1), already computed in the forward pass"
    assert r"\intertext{" + reads + "}" in latex and f"  - {reads}" in markdown
    assert "↳ mul gate: the local gradient is the other input (switcher)" in text
    assert r"\intertext{mul gate: the local gradient is the other input (switcher)}" in latex
    assert "  - mul gate: the local gradient is the other input (switcher)" in markdown
    assert "start: the gradient of f with respect to itself" in text
    assert r"\intertext{start: the gradient of $f$ with respect to itself}" in latex
    reuse = "each gradient is computed once and used by every later step that needs it"
    assert (
        f"Reuse: {reuse}" in text and rf"\paragraph{{Reuse}} {reuse}:" in latex and f"#### Reuse: {reuse}" in markdown
    )
    part_2 = "Part 2: the variables, each from the gradient of the gate it feeds"
    assert part_2 in text and rf"\intertext{{{part_2}.}}" in latex and f"*{part_2}.*" in markdown


def test_circuit_and_network_json_share_the_backward_step_schema():
    """A step and each of its factors carry the same keys for a circuit and a network (plus each kind's own)."""
    udl_toy = str(Path(sb.__file__).parent.parent / "examples" / "udl_toy.py")
    circuit, network = explain(CIRCUIT, at=POINT).to_dict(), explain(udl_toy, at="seed=0").to_dict()
    step = ["step", "gradient", "node", "of", "part", "branch", "reused_by", "factors", "value"]
    common = {"consumer", "upstream", "already_computed", "local", "reads", "value"}
    for data in (circuit, network):
        assert all(list(b) == step for b in data["backward"])
        assert all(common <= set(f) for b in data["backward"] for f in b["factors"])


# -- the command line -------------------------------------------------------


@needs_dot
def test_cli_draw_writes_svg_and_png(tmp_path):
    code, out, err = run("draw", "(x + y)*z", "--at", POINT, "-o", tmp_path / "c.svg")
    assert code == 0 and err == ""
    assert out.startswith(f"wrote {tmp_path / 'c.svg'}")
    assert "-12" in (tmp_path / "c.svg").read_text().replace("&#45;", "-")
    code, out, _ = run("draw", CIRCUIT, "--at", POINT, "-o", tmp_path / "c.png", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["format"] == "png" and data["path"] == str(tmp_path / "c.png")
    assert {(w["from"], w["value"], w["grad"]) for w in data["wires"]} == {
        ("x", -2, -4),
        ("y", 5, -4),
        ("z", -4, 3),
        ("q", 3, -4),
        ("f", -12, 1),
    }
    png_size((tmp_path / "c.png").read_bytes())


def test_cli_explain_text_markdown_latex_and_json():
    code, out, _ = run("explain", CIRCUIT, "--at", POINT)
    assert code == 0 and "df/dq: already computed! (B2)" in out
    for fmt, marker in (("markdown", "#### Backward pass"), ("latex", r"\begin{align*}")):
        code, out, _ = run("explain", CIRCUIT, "--at", POINT, "--format", fmt)
        assert code == 0 and marker in out
    code, out, _ = run("explain", TOY_STEPS, "--wrt", ",".join(UDL_ORDER), "--json")
    data = json.loads(out)
    assert [b["gradient"] for b in data["backward"] if b["part"] == 2] == [f"dl/d{p}" for p in UDL_ORDER]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["draw", "x*y", "--at", "x=1,w=2", "-o", "{tmp}/g.svg"], "'w' is not a variable"),
        (["explain", "x*y", "--at", "x=1,w=2"], "'w' is not a variable"),
        (["explain", "x*y", "--at", "x=1"], "no value for y"),
        (["draw", "log(x)", "--at", "x=-1", "-o", "{tmp}/g.svg"], "undefined at this point"),
        (["explain", "1/x", "--at", "x=0"], "undefined at this point"),
        (["draw", "x*y", "-o", "{tmp}/g.jpg"], "unknown picture format '.jpg'"),
        (["draw", "x*y", "-o", "{tmp}/missing/g.svg"], "does not exist"),
        (["draw", "x*", "-o", "{tmp}/g.svg"], "could not parse"),
        (["explain", "x*y", "--format", "docx"], "invalid choice"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, argv, message):
    code, _, err = run(*[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2
    # argparse's own errors come after its usage synopsis, as for every subcommand
    lines = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
    assert len(lines) == 1 and lines[0].startswith("symback: error:") and message in lines[0], err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


def test_cli_draw_without_dot_says_how_to_install_it(tmp_path, monkeypatch):
    """A machine without Graphviz: one line naming the package, exit 2, no file.

    In-process (graphviz looks `dot` up on PATH at each call); `python -m symback` has its own test in test_grad_cli.
    """
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run("draw", "(x + y)*z", "--at", POINT, "-o", tmp_path / "c.svg")
    assert code == 2
    assert err.count("\n") == 1
    assert "apt-get install graphviz" in err and "'dot'" in err
    assert list(tmp_path.iterdir()) == []


# -- the shape of teach -----------------------------------------------------

FRONT_ENDS_AND_CONSUMERS = (
    "symback.declare",
    "symback.parse",
    "symback.api",
    "symback.cli",
    "symback.commands",
    "symback.check",
    "symback.codegen",
    "symback.render",
)


def _teach_imports():
    """(module, imported module, line, inside a function) for every import in symback/teach."""
    import ast

    folder = Path(sb.__file__).parent / "teach"
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text())
        inner = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = "symback" if node.level == 2 else "symback.teach" if node.level == 1 else ""
                target = ".".join(p for p in (base, node.module) if p)
                for alias in node.names if node.level == 1 and node.module is None else [None]:
                    yield path.stem, f"{target}.{alias.name}" if alias else target, node.lineno, id(node) in inner
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield path.stem, alias.name, node.lineno, id(node) in inner


def test_teach_imports_no_front_end_no_other_consumer_and_no_cycle():
    imports = list(_teach_imports())
    wrong = [
        (m, t) for m, t, _, _ in imports if t.startswith(FRONT_ENDS_AND_CONSUMERS) and t != "symback.render.printers"
    ]
    assert wrong == []
    # function-level imports: only matplotlib, which a plot alone needs
    assert {t.split(".")[0] for _, t, _, inside in imports if inside} <= {"matplotlib"}
    # no cycle among teach's modules
    graph = {}
    for m, t, _, _ in imports:
        if t.startswith("symback.teach."):
            graph.setdefault(m, set()).add(t.split(".")[2])
    _seen, done = set(), set()

    def visit(m, path):
        assert m not in path, " -> ".join([*path, m])
        if m in done:
            return
        for n in graph.get(m, ()):
            visit(n, path + [m])
        done.add(m)

    for m in graph:
        visit(m, [])


def test_teach_files_stay_small_and_one_builder_serves_every_derivation():

    from symback.teach.draw import Picture
    from symback.teach.explain import Explanation

    folder = Path(sb.__file__).parent / "teach"
    assert {
        p.name: len(p.read_text().splitlines()) for p in folder.glob("*.py") if len(p.read_text().splitlines()) > 500
    } == {}
    udl_toy = str(Path(sb.__file__).parent.parent / "examples" / "udl_toy.py")
    assert type(explain(CIRCUIT)) is type(explain(udl_toy)) is Explanation
    # a Gradient is a Derivation: teach takes it with its worked table's values, no front end involved
    g = sb.grad(CIRCUIT)
    assert "B2. df/dq = df/df × ∂f/∂q" in str(Explanation(g, g.at(x=-2, y=5, z=-4).values))
    assert isinstance(picture(g), Picture) and isinstance(picture(sb.Network(2, [sb.Dense(1)]).derive()), Picture)
