"""DESIGN.md's names for the conv and pool layers: `kernel=` (3 by default) and `size=` beside PyTorch's
`kernel_size`, the same layer either way; both at once, or a pool with no window, is a one-line TypeError."""

import pytest

import symback as sb


def test_kernel_is_another_name_for_kernel_size_and_three_by_default():
    assert sb.Conv2D(4, kernel=5) == sb.Conv2D(4, kernel_size=5) == sb.Conv2D(4, 5)
    assert sb.Conv2D(4) == sb.Conv2D(4, 3)
    assert sb.Conv1D(2, kernel=4, stride=2) == sb.Conv1D(2, 4, stride=2)


def test_size_is_another_name_for_a_pools_kernel_size():
    assert sb.MaxPool(size=2) == sb.MaxPool(2)
    assert sb.AvgPool(size=(2, 3), stride=1) == sb.AvgPool((2, 3), 1)


def test_a_network_declared_with_the_contract_names_derives_as_with_pytorchs():
    def net(conv, pool):
        return sb.Network(n_in=(1, 6, 6), layers=[conv, pool, sb.Flatten(), sb.Dense(2)], loss="mse")

    a = net(sb.Conv2D(2, kernel=3, padding=1, activation="relu"), sb.MaxPool(size=2)).derive()
    b = net(sb.Conv2D(2, kernel_size=3, padding=1, activation="relu"), sb.MaxPool(kernel_size=2)).derive()
    assert a.render(format="text") == b.render(format="text")


@pytest.mark.parametrize("make, words", [
    (lambda: sb.Conv2D(4, 3, kernel=3), "give kernel_size=3 or kernel=3, not both"),
    (lambda: sb.MaxPool(2, size=2), "give kernel_size=2 or size=2, not both"),
    (lambda: sb.AvgPool(), "AvgPool needs its window size"),
])
def test_both_names_or_none_is_one_line(make, words):
    with pytest.raises(TypeError) as err:
        make()
    assert words in str(err.value) and "\n" not in str(err.value)
