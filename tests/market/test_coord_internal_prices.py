"""peergrid.market.internal_prices: hand-computed internal prices of every rule (coordination part)."""

import numpy as np
import pytest

from peergrid.market import clear, internal_prices

LB, LS = 0.30, 0.10
# slots: deficit (D=2, G=1), surplus (D=1, G=2), buyers only (D=1), sellers only (G=1), empty
NET = np.array([[2.0, -1.0], [1.0, -2.0], [1.0, 0.0], [0.0, -1.0], [0.0, 0.0]])


def prices(mechanism, **options):
    buy, sell = internal_prices(clear(NET, LB, LS, mechanism, **options))
    return buy.round(10).tolist(), sell.round(10).tolist()


def test_baseline_is_the_grid():
    assert prices("baseline") == ([LB] * 5, [LS] * 5)


def test_sdr_formula_and_newcomers():
    buy, sell = prices("sdr")
    # deficit: SDR = 0.5 → P_sell = λbλs/((λb−λs)·0.5 + λs) = 0.03/0.2 = 0.15, P_buy = 0.15·0.5 + 0.3·0.5
    assert buy[0] == pytest.approx(0.225) and sell[0] == pytest.approx(0.15)
    # surplus: SDR = 2 > 1 → both λs
    assert buy[1] == sell[1] == pytest.approx(LS)
    # buyers only: a new seller faces SDR → 0, P_sell = λb; sellers only: a new buyer faces SDR → ∞, λs
    assert sell[2] == pytest.approx(LB) and buy[2] == pytest.approx(LB)
    assert buy[3] == pytest.approx(LS) and sell[3] == pytest.approx(LS)
    assert (buy[4], sell[4]) == (LB, LS)  # empty: the grid


def test_mmr_averages_and_newcomers():
    buy, sell = prices("mmr")
    p = (LB + LS) / 2  # 0.20
    assert buy[0] == pytest.approx((1 * p + 1 * LB) / 2) and sell[0] == pytest.approx(p)
    assert buy[1] == pytest.approx(p) and sell[1] == pytest.approx((1 * p + 1 * LS) / 2)
    assert buy[2] == pytest.approx(LB) and sell[2] == pytest.approx(p)  # a new seller sells at P_mmr
    assert buy[3] == pytest.approx(p) and sell[3] == pytest.approx(LS)  # a new buyer buys at P_mmr
    assert (buy[4], sell[4]) == (LB, LS)


def test_bill_sharing_uncrossed():
    buy, sell = prices("bs")
    # deficit: c_im = λb·(D − G)/D = 0.15, c_ex = 0
    assert buy[0] == pytest.approx(0.15) and sell[0] == pytest.approx(0.0)
    # surplus: c_im = 0 < c_ex = λs·(G − D)/G = 0.05 → the buy price is raised to 0.05
    assert buy[1] == pytest.approx(0.05) and sell[1] == pytest.approx(0.05)
    # buyers only: c_im = λb, a new seller earns 0; sellers only: a new buyer pays 0, c_ex = λs → buy = λs
    assert buy[2] == pytest.approx(LB) and sell[2] == pytest.approx(0.0)
    assert buy[3] == pytest.approx(LS) and sell[3] == pytest.approx(LS)
    assert (buy[4], sell[4]) == (LB, LS)


def test_order_book_volume_weighted_with_grid_remainder():
    # truthful uniform auction, k = 0.5: 1 kWh traded at 0.20, the rest with the grid
    buy, sell = prices("uniform")
    assert buy[0] == pytest.approx((1 * 0.20 + 1 * LB) / 2) and sell[0] == pytest.approx(0.20)
    assert buy[1] == pytest.approx(0.20) and sell[1] == pytest.approx((1 * 0.20 + 1 * LS) / 2)
    assert (buy[2], sell[2]) == (LB, LS)  # no sellers: λs; no buyers: λb
    assert (buy[3], sell[3]) == (LB, LS)
    # pay-as-bid: buyers pay their bid λb, sellers get their ask λs (the operator keeps the spread)
    buy, sell = prices("pay-as-bid")
    assert buy[0] == pytest.approx(LB) and sell[0] == pytest.approx(LS)


@pytest.mark.parametrize("mechanism", ["baseline", "bs", "mmr", "sdr", "uniform", "pay-as-bid", "mcafee", "bilateral"])
def test_valid_price_view_on_random_nets(mechanism):
    rng = np.random.default_rng(4)
    net = rng.normal(size=(50, 6))
    net[rng.random(net.shape) < 0.3] = 0.0
    lb = rng.uniform(0.2, 0.4, 50)
    ls = rng.uniform(0.0, 0.1, 50)
    opts = {"bidding": "zero-intelligence", "seed": 2} if mechanism not in ("baseline", "bs", "mmr", "sdr") else {}
    buy, sell = internal_prices(clear(net, lb, ls, mechanism, **opts))
    assert buy.shape == sell.shape == (50,)
    assert np.all(np.isfinite(buy)) and np.all(sell >= 0) and np.all(sell <= buy + 1e-12)
    assert np.all(buy <= lb + 1e-12)
