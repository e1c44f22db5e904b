"""Vanishing and exploding gradients, as the lectures show them: the deltas' norms across 20 layers under He and
Glorot initialisation and scaled weights, their plot, and `symback norms`."""

import json

import numpy as np
import pytest
from test_teach_networks import RELU20, TANH20, UDL_TOY, png_size, run

from symback.declare.spec import load_spec
from symback.teach.gradients import compare, gradient_norms, plot


@pytest.fixture(scope="module")
def relu20():
    return load_spec(RELU20).derive()


def test_he_init_keeps_relu_deltas_within_a_factor_of_10_across_20_layers(relu20):
    report = gradient_norms(relu20, "he", batch=256, seed=0)
    assert len(report.layers) == 21 and report.verdict == "stable"
    deltas = [layer.delta for layer in report.layers]
    assert max(deltas) / min(deltas) < 10
    # the local factors' product predicts each layer's gain
    for layer in report.layers[:-1]:
        assert 0.7 < layer.factor < 1.4 and abs(np.log(layer.gain / layer.factor)) < np.log(1.5)


@pytest.mark.parametrize("seed", [0, 1])
def test_weights_scaled_2x_or_half_make_the_deltas_grow_or_shrink_geometrically(relu20, seed):
    up, down = (gradient_norms(relu20, "he", scale=s, batch=128, seed=seed) for s in (2.0, 0.5))
    # going down one layer multiplies the gradient by about 2 (resp. 0.5): the lecture's "> 2.0", "< 0.5"
    up_gains = [layer.gain for layer in up.layers[:-1]]
    down_gains = [layer.gain for layer in down.layers[:-1]]
    assert sum(g > 1.5 for g in up_gains) >= 18 and sum(g < 0.7 for g in down_gains) >= 18
    first_over_last = lambda r: r.layers[0].delta / r.layers[-1].delta
    assert first_over_last(up) > 2.0**15 and first_over_last(down) < 2.0**-15
    assert up.verdict == "exploding" and down.verdict == "vanishing"
    assert 1.8 < up.per_layer < 2.3 and 0.42 < down.per_layer < 0.56


def test_glorot_vanishes_for_relu_but_not_for_tanh():
    reports = compare({"relu": load_spec(RELU20), "tanh": load_spec(TANH20)}, inits=("he", "glorot"), batch=64)
    verdicts = {r.label: r.verdict for r in reports}
    assert verdicts == {
        "relu · he": "stable",
        "relu · glorot": "vanishing",
        "tanh · he": "stable",
        "tanh · glorot": "stable",
    }


def test_plot_across_depth_is_a_png_of_the_expected_size(relu20, tmp_path):
    reports = [gradient_norms(relu20, "he", scale=s, batch=32, label=f"× {s}") for s in (0.5, 1, 2)]
    path = plot(reports, tmp_path / "norms.png")
    assert png_size(path.read_bytes()) == (1100, 420)
    svg = plot(reports, tmp_path / "norms.svg").read_text()
    assert "× 0.5: vanishing" in svg and "× 2: exploding" in svg


def test_cli_norms_table_and_json(tmp_path):
    code, out, err = run("norms", UDL_TOY, "--batch", "16")
    assert code == 0 and err == "" and "udl_toy · he" in out and "f₀" in out and "mean ‖δ‖" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    code, out, _ = run(
        "norms", UDL_TOY, "--init", "he,glorot", "--scale", "1,2", "--batch", "16", "--json", "-o", tmp_path / "p.png"
    )
    data = json.loads(out)
    assert [(r["init"], r["scale"]) for r in data["runs"]] == [("he", 1), ("he", 2), ("glorot", 1), ("glorot", 2)]
    assert len(data["runs"][0]["layers"]) == 4 and (tmp_path / "p.png").exists()
