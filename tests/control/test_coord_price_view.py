"""peergrid.control.price_view: the price signal handed to controllers (coordination part)."""

import numpy as np
import pytest

import peergrid
from peergrid import DataError
from peergrid.control import lp_individual, price_view
from peergrid.data import synthetic_community


@pytest.fixture
def com():
    return synthetic_community(4, periods=24, freq="1h", seed=2)


def test_view_replaces_prices_only(com):
    buy = np.linspace(0.2, 0.4, 24)
    view = price_view(com, buy, 0.05)
    assert np.array_equal(view.retail, buy) and np.array_equal(view.feed_in, np.full(24, 0.05))
    assert view.load is com.load and view.generation is com.generation
    assert view.tariff is com.tariff and view.tz == com.tz and view.participants is com.participants
    assert not np.array_equal(com.retail, buy)  # the original is untouched


@pytest.mark.parametrize(
    ("buy", "sell", "match"),
    [
        (np.full(23, 0.3), 0.1, "shape"),
        (np.r_[np.nan, np.full(23, 0.3)], 0.1, "not finite"),
        (0.3, np.r_[0.4, np.full(23, 0.1)], "exceeds buy"),
        (0.3, -0.1, "< 0"),
    ],
)
def test_view_validates(com, buy, sell, match):
    with pytest.raises(DataError, match=match):
        price_view(com, buy, sell)


def test_lp_responds_to_the_view():
    com = synthetic_community(4, periods=24, freq="1h", seed=2, battery_share=1.0)
    flat = price_view(com, 0.3, 0.3 * 0.99)
    cheap_noon = np.full(24, 0.3)
    cheap_noon[10:14] = 0.01
    a, b = lp_individual(flat), lp_individual(price_view(com, cheap_noon, 0.0))
    assert a.owners.size
    assert not np.allclose(a.charge, b.charge)
    assert b.charge[10:14].sum() > a.charge[10:14].sum()
    assert peergrid.control.price_view is price_view
