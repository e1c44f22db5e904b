"""Shared helpers: central differences and a relative-error measure."""

import math

import pytest
import sympy as sp


def central_difference(expr: sp.Expr, var: sp.Symbol, point: dict, h: float = 1e-6) -> float:
    """(f(x + h) - f(x - h)) / 2h with f evaluated by SymPy at 30 digits."""
    f = sp.lambdify(list(point), expr, modules=["mpmath"])
    import mpmath

    mpmath.mp.dps = 40
    args = {k.name if isinstance(k, sp.Symbol) else k: mpmath.mpf(v) for k, v in point.items()}
    name = var.name if isinstance(var, sp.Symbol) else var
    plus, minus = dict(args), dict(args)
    plus[name] += mpmath.mpf(h)
    minus[name] -= mpmath.mpf(h)
    keys = [k.name if isinstance(k, sp.Symbol) else k for k in point]
    return float((f(*[plus[k] for k in keys]) - f(*[minus[k] for k in keys])) / (2 * mpmath.mpf(h)))


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(a), abs(b))


@pytest.fixture
def close():
    def check(a, b, tol):
        a, b = float(a), float(b)
        assert math.isfinite(a) and math.isfinite(b)
        assert rel_err(a, b) <= tol, f"{a} vs {b}: relative error {rel_err(a, b):.3g} > {tol}"

    return check


# -- running in parallel (`make test` runs pytest-xdist with --dist loadgroup) ----------------------------
#
# Each worker keeps its own compiled modules (tests/codegen_support.compiled), so the tests that use one
# generated module run on one worker: it compiles the module once and the other worker never waits on,
# or repeats, that compile. The group is the module's example id (the `|all` variant is a module of its
# own), the example behind the `toy`/`labels` fixtures, or a test's own module. Ungrouped tests spread
# one at a time. The browser tests (test_page_browser.py) share one Chromium, so they run on one worker.

_FIXTURE_MODULES = {"toy": "udl_toy", "labels": "two_inputs"}
_TEST_MODULES = {"test_softmax_cross_entropy_at_1000_is_exact": "ce"}  # the module of test_stable_...[ce]


def _codegen_group(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        return callspec.id + ("|all" if "every_layout" in callspec.params else "")
    for fixture, key in _FIXTURE_MODULES.items():
        if fixture in item.fixturenames:
            return key
    return _TEST_MODULES.get(item.name)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the markers into the node ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name == "test_page_browser.py":  # one headless Chromium for all of them
            item.add_marker(pytest.mark.xdist_group("browser"))
        if item.path.name == "test_codegen.py":
            group = _codegen_group(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group("codegen:" + group))
