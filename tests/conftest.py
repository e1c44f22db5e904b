"""Shared helpers: central differences and a relative-error measure."""

import math
from functools import lru_cache

import mpmath
import pytest
import sympy as sp


@lru_cache(maxsize=256)
def _mpmath_function(variables: tuple, expr: sp.Expr):
    """`expr` as an mpmath function of `variables`, made once (a test evaluates it at many points)."""
    return sp.lambdify(list(variables), expr, modules=["mpmath"])


def central_difference(expr: sp.Expr, var: sp.Symbol, point: dict, h: float = 1e-6) -> float:
    """(f(x + h) - f(x - h)) / 2h with f evaluated in mpmath at 40 digits."""
    f = _mpmath_function(tuple(point), expr)
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
# or repeats, that compile (Numba's cache on disk shares what is compiled first with later runs). Groups:
# - "examples": every test of the files built on the modules of udl_toy, two_inputs and train_digits (the
#   entry points, training, optimizers, threads, inference modules), and test_codegen's tests of those three;
# - in test_codegen, each other example's id (`every_layout` uses the example's module and one with the other
#   layouts), or a test's own module;
# - test_torch_bridge, test_codegen_torch, test_weight_decay, test_silent_fixes and the compiled-layer files (batch
#   norm, layer norm with test_softmax's kernel test, dropout, input gradients, attention): a group per file (modules
#   shared by its tests); the conv files join test_codegen's digits_cnn (the same module: its one layout is the one
#   it chooses);
# - the browser tests (test_page_browser.py), which share one Chromium; the README's (one Python runs them all).
# xdist hands out the groups with the most tests first (--loadscope-reorder), so the long groups start at once;
# ungrouped tests spread one at a time.

_SHARED = {"udl_toy", "two_inputs", "train_digits"}
_FILES = {"test_entry_points.py": "examples", "test_entry_out.py": "examples", "test_optim.py": "examples",
          "test_train.py": "examples",
          "test_threads.py": "examples", "test_inference.py": "examples", "test_page_browser.py": "browser",
          "test_torch_bridge.py": "torch_bridge", "test_codegen_torch.py": "codegen_torch",
          "test_weight_decay.py": "weight_decay", "test_readme.py": "readme",
          "test_batchnorm_codegen.py": "batchnorm_codegen", "test_layernorm_codegen.py": "layernorm_codegen",
          "test_dropout_kernels.py": "dropout_kernels", "test_input_grad_kernels.py": "input_grad_kernels",
          "test_attention_compiled.py": "attention_compiled", "test_conv_compiled.py": "codegen:digits_cnn",
          "test_conv_digits.py": "codegen:digits_cnn", "test_silent_fixes.py": "silent_fixes",
          "test_pool_ties.py": "pool_ties"}
_FIXTURE_MODULES = {"toy": "udl_toy", "labels": "two_inputs"}
_TEST_MODULES = {"test_softmax_cross_entropy_at_1000_is_exact": "ce",  # the module of test_stable_...[ce]
                 "test_small_entries_are_not_failed_for_the_rounding_of_a_float64_loss": "train_digits"}
_TESTS = {"test_the_kernel_takes_logits_of_a_thousand": "layernorm_codegen"}  # test_softmax: its module is that file's


def _module_group(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if item.path.name == "test_codegen.py" and callspec is not None:
        key = callspec.id
    else:
        key = next((k for f, k in _FIXTURE_MODULES.items() if f in item.fixturenames), _TEST_MODULES.get(item.name))
    if key is None or item.path.name not in ("test_codegen.py", "test_gradcheck.py"):
        return None
    return "examples" if key in _SHARED else "codegen:" + key


@pytest.hookimpl(tryfirst=True)  # before xdist reads the markers into the node ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        group = _FILES.get(item.path.name) or _TESTS.get(item.name) or _module_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
