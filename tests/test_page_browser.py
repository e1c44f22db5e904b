"""The interactive backprop page in a real browser (issue 15, item 2): Debian's Chromium, headless, no network.

One Chromium serves every test here (`browser`, module scope; conftest puts these tests in one xdist
group). Each page is written by the CLI, as a student makes it, and loaded through file://. Every step is
clicked through: the counter, the node and wires lit on the picture, the numbers on the wires and in the
equation. Screenshots go to the test's tmp folder; with SYMBACK_SCREENS=DIR a few are copied there too,
to be looked at.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from symback.cli import main

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and DRIVER.exists()):
    pytest.skip("Debian's chromium and chromium-driver are missing: `make test` installs them "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)
from selenium import webdriver  # noqa: E402  (a test extra: pip install -e ".[test]")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # no network at all: every connection goes to a closed port, every host name fails to resolve
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,1000"]
UDL_ONLY = ("Ω", "β", "𝜴", "𝜷", "Omega", "beta")  # UDL's weights and biases, as text, MathML and SVG labels


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="symback-chromium-")
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The pages a student writes with `symback explain ... -o page.html`, by name."""
    folder = tmp_path_factory.mktemp("pages")
    commands = {
        "circuit": ["q = x + y; f = q*z", "--at", "x=-2,y=5,z=-4"],
        "branch": ["x*y + x", "--at", "x=3,y=2"],
        "toy": [str(ROOT / "examples/udl_toy.py"), "--seed", "0"],
    }
    for name, args in commands.items():
        assert main(["explain", *args, "-o", str(folder / f"{name}.html")]) in (0, None)
    return folder


def load(browser, pages, name: str):
    browser.get((pages / f"{name}.html").as_uri())
    assert browser.find_element(By.ID, "sb-counter").text.startswith("step 1 of")


def text(browser, selector: str) -> str:
    """An element's text as a reader sees it, with MathML's minus sign as a hyphen and no spaces."""
    raw = browser.find_element(By.CSS_SELECTOR, selector).get_attribute("textContent")
    return raw.replace("\u2212", "-").replace(" ", "").replace("\xa0", "").replace("\n", "")


def equation(browser) -> str:
    """The step's equation (its first row): ``dfdx=...=(-4)×1=-4``."""
    return text(browser, "#sb-rows .sb-eq")


def lit(browser, cls: str) -> list[str]:
    """The ids of the picture's elements carrying `cls` (sb-current, sb-lit, sb-upstream), in the shown figure."""
    return browser.execute_script(
        "const f = [...document.querySelectorAll('.sb-figure')].find(f => !f.hidden);"
        "return [...f.querySelectorAll('.' + arguments[0])].map(e => e.id).sort();", cls)


def wire_labels(browser, edge_id: str) -> list[str]:
    """The visible numbers written on one wire of the shown picture."""
    return browser.execute_script(
        "const e = document.getElementById(arguments[0]);"
        "return [...e.querySelectorAll('text')].filter(t => getComputedStyle(t).visibility !== 'hidden')"
        ".map(t => t.textContent.trim()).filter(t => t);", edge_id)


def visible_text(browser) -> str:
    """Everything the reader can see: the page's text and the shown picture's labels."""
    return browser.execute_script(
        "const f = [...document.querySelectorAll('.sb-figure')].find(f => !f.hidden);"
        "return document.body.innerText + ' ' + (f ? f.textContent : '');")


def shoot(browser, path: Path, keep: str | None = None) -> None:
    browser.execute_script("window.scrollTo(0, 0)")  # the page as it opens (a click may have scrolled it)
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    if keep and os.environ.get("SYMBACK_SCREENS"):
        Path(os.environ["SYMBACK_SCREENS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["SYMBACK_SCREENS"]) / keep)


# (step, node lit, wires lit, the equation's last number, the wire whose labels show, what they say)
CIRCUIT = [
    ("F1", "q", ["x->q", "y->q"], "3", "q->f", ["3"]),
    ("F2", "f", ["q->f", "z->f"], "-12", "f->(output)", ["-12"]),
    ("B1", "f", ["f->(output)"], "1", "f->(output)", ["-12", "1"]),
    ("B2", "q", ["q->f"], "-4", "q->f", ["3", "-4"]),
    ("B3", "x", ["x->q"], "-4", "x->q", ["-2", "-4"]),
    ("B4", "y", ["y->q"], "-4", "y->q", ["5", "-4"]),
    ("B5", "z", ["z->f"], "3", "z->f", ["-4", "3"]),
]


def test_the_circuit_steps_through_the_lectures_numbers(browser, pages, tmp_path):
    load(browser, pages, "circuit")
    assert browser.find_element(By.ID, "sb-notations").text == "an expression keeps its own names"
    nxt = browser.find_element(By.ID, "sb-next")
    gradients = []
    for k, (step, node, wires, last, wire, labels) in enumerate(CIRCUIT):
        assert browser.find_element(By.ID, "sb-counter").text.startswith(f"step {k + 1} of 7")
        assert text(browser, "#sb-step-title").startswith(step)
        assert lit(browser, "sb-current") == [f"circuit-own-node-{node}"]
        assert lit(browser, "sb-lit") == sorted(f"circuit-own-edge-{w}" for w in wires)
        eq = equation(browser)
        assert eq.split("=")[-1] == last, eq
        assert wire_labels(browser, f"circuit-own-edge-{wire}") == labels
        if step.startswith("B") and node in "xyz":
            gradients.append(eq.split("=")[-1])
        shoot(browser, tmp_path / f"circuit_{k + 1}_{step}.png", keep=f"circuit_{step}.png" if k in (0, 3, 6) else None)
        if k < len(CIRCUIT) - 1:
            nxt.click()
    assert gradients == ["-4", "-4", "3"]  # df/dx, df/dy, df/dz, in that order
    assert not nxt.is_enabled()  # the last step
    assert wire_labels(browser, "circuit-own-edge-q->f") == ["3", "-4"]


def test_the_circuit_marks_reused_gradients(browser, pages):
    load(browser, pages, "circuit")
    browser.find_element(By.CSS_SELECTOR, '#sb-outline li[data-step="B2"]').click()
    assert lit(browser, "sb-upstream") == ["circuit-own-node-f"]  # df/df, computed in B1, reused here
    marked = browser.find_elements(By.CSS_SELECTOR, "#sb-rows .sb-computed")
    assert len(marked) == 1 and "alreadycomputed!(B1)" in equation(browser)
    reuse = browser.find_element(By.CSS_SELECTOR, "#sb-rows .sb-reuse").get_attribute("textContent")
    assert "(B3)" in reuse and "(B4)" in reuse  # df/dq is reused by df/dx and df/dy
    badges = browser.find_elements(By.CSS_SELECTOR, '#sb-outline li[data-step="B3"] .sb-uses')
    assert [b.text for b in badges] == ["↩ B2"]


def test_gradients_add_at_a_branch(browser, pages):
    load(browser, pages, "branch")
    browser.find_element(By.CSS_SELECTOR, '#sb-outline li[data-node="x"][data-pass="backward"]').click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#sb-rows .sb-branch")
    assert len(rows) == 1 and "gradients add at this branch" in rows[0].text
    assert lit(browser, "sb-lit") == ["circuit-own-edge-x(branch)->f", "circuit-own-edge-x(branch)->v1",
                                      "circuit-own-edge-x->x(branch)"]
    assert text(browser, "#sb-rows .sb-branch ~ .sb-eq").split("=")[-1] == "3"  # d/dx (xy + x) = y + 1 = 3


def test_arrow_keys_step_forward_and_back(browser, pages):
    load(browser, pages, "circuit")
    body = browser.find_element(By.TAG_NAME, "body")
    for _ in range(3):
        body.send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element(By.ID, "sb-counter").text.startswith("step 4 of 7")
    assert lit(browser, "sb-current") == ["circuit-own-node-q"]
    body.send_keys(Keys.ARROW_LEFT)
    assert browser.find_element(By.ID, "sb-counter").text.startswith("step 3 of 7")
    body.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT, Keys.ARROW_LEFT)  # no step before the first
    assert browser.find_element(By.ID, "sb-counter").text.startswith("step 1 of 7")


UDL_PARAMS = ["b1", "W1", "b2", "W2", "b3", "W3", "b4", "W4"]  # β₀, Ω₀, β₁, Ω₁, ... as UDL lists them


def test_the_toy_network_steps_forward_then_backward(browser, pages, tmp_path):
    load(browser, pages, "toy")
    items = browser.find_elements(By.CSS_SELECTOR, "#sb-outline li.sb-item")
    order = [(i.get_attribute("data-pass"), i.get_attribute("data-node")) for i in items]
    assert [n for p, n in order if p == "forward"] == ["f1", "h1", "f2", "h2", "f3", "h3", "f4", "l"]
    params = browser.find_elements(By.CSS_SELECTOR, '#sb-outline li.sb-item[data-part="2"]')
    assert [p.get_attribute("data-node") for p in params] == UDL_PARAMS  # the eight, in UDL's order
    symbols = [p.get_attribute("textContent") for p in params]
    assert [s[s.index("𝜷") if "𝜷" in s else s.index("𝜴")] for s in symbols] == ["𝜷", "𝜴"] * 4
    for p in params:  # each reuses the gradient of the module it feeds, marked
        assert p.find_element(By.CSS_SELECTOR, ".sb-uses").text.startswith("↩ B")
    nxt = browser.find_element(By.ID, "sb-next")
    for k, (pass_, node) in enumerate(order):
        assert browser.find_element(By.ID, "sb-counter").text == f"step {k + 1} of 23 · {pass_} pass"
        assert lit(browser, "sb-current") == [f"layer-udl-node-{node}"]
        assert lit(browser, "sb-lit"), f"step {k + 1} lights no wire"
        if pass_ == "backward" and node not in ("f4",):
            assert browser.find_elements(By.CSS_SELECTOR, "#sb-rows .sb-computed")  # upstream, already computed
        if k in (2, 9, 16):
            shoot(browser, tmp_path / f"toy_{k + 1}.png", keep=f"toy_step{k + 1}.png")
        if k < len(order) - 1:
            nxt.click()
    assert equation(browser).endswith("‖·‖=0.00381")  # ∂ℓ/∂Ω₃ at seed 0, as the text narrative says


def test_the_notation_switch_changes_every_symbol(browser, pages, tmp_path):
    load(browser, pages, "toy")
    browser.find_element(By.CSS_SELECTOR, '#sb-outline li[data-step="B9"]').click()
    seen = visible_text(browser)
    assert all(s in seen for s in ("Ω", "β", "𝜴", "𝜷"))  # UDL's symbols, in the picture and in MathML
    for notation, present in (("cs229", "W"), ("foml", "W")):
        browser.find_element(By.CSS_SELECTOR, f'#sb-notations button[data-key="{notation}"]').click()
        assert browser.find_element(By.ID, f"sb-figure-layer-{notation}").is_displayed()
        assert not browser.find_element(By.ID, "sb-figure-layer-udl").is_displayed()
        seen = visible_text(browser)
        assert present in seen and not [s for s in UDL_ONLY if s in seen], notation
        assert browser.find_element(By.ID, "sb-counter").text.startswith("step 17 of 23")
        shoot(browser, tmp_path / f"toy_{notation}.png", keep=f"toy_{notation}.png")
    assert lit(browser, "sb-current") == ["layer-foml-node-b1"]  # step 17: FoML lists W before b (B8 W1, B9 b1)


def test_the_layer_and_unit_views(browser, pages, tmp_path):
    load(browser, pages, "toy")
    views = browser.find_elements(By.CSS_SELECTOR, "#sb-views button")
    assert [v.get_attribute("data-key") for v in views] == ["layer", "unit"]
    views[1].click()
    assert browser.find_element(By.ID, "sb-figure-unit-udl").is_displayed()
    assert not browser.find_element(By.ID, "sb-figure-layer-udl").is_displayed()
    assert lit(browser, "sb-current") == [f"unit-udl-node-f1_{i}" for i in (1, 2, 3)]  # f₀'s three units
    browser.find_element(By.CSS_SELECTOR, '#sb-outline li[data-step="B9"]').click()  # ∂ℓ/∂Ω₀: 3×1 units
    assert lit(browser, "sb-current") == [f"unit-udl-node-W1_{i}_1" for i in (1, 2, 3)]
    assert len(lit(browser, "sb-lit")) >= 3
    shoot(browser, tmp_path / "toy_units.png", keep="toy_units.png")
    views[0].click()
    assert lit(browser, "sb-current") == ["layer-udl-node-W1"]
