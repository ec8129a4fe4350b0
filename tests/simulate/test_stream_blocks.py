"""The streaming year (peergrid.simulate.stream): equal to the array path for any block size."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import peergrid
from peergrid.control import battery_fleet
from peergrid.control.greedy import GreedyState, greedy_self_consumption
from peergrid.core.community import ArraySource, BlockSource, Community
from peergrid.core.errors import ConfigError, DataError
from peergrid.data import synthetic_community
from peergrid.data.synthetic import ProfileSource
from peergrid.market.tariff import Rate, Tariff, apply_tariff

POOL = ["baseline", "bs", "mmr", "sdr"]
T = 24 * 4 * 3 + 5  # 293 steps: no block size below divides it evenly except 1


def _close(a: object, b: object, rtol: float = 1e-12, scale: float = 0.0) -> None:
    """Equal to rounding: relative to the larger of the value and the column's (or ``scale``'s) magnitude."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    scale = max(float(np.max(np.abs(a[ok]), initial=0.0)), scale, 1e-300)
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=rtol * scale)


def _same_result(full: peergrid.Result, streamed: peergrid.Result) -> None:
    for k, v in full.metrics.items():
        w = streamed.metrics[k]
        if np.isnan(v):
            assert np.isnan(w), k
        else:
            assert w == pytest.approx(v, rel=1e-12, abs=1e-12), k
    pa, pb = full.participants, streamed.participants
    assert list(pa.columns) == list(pb.columns)
    assert (pa["id"] == pb["id"]).all() and (pa["role"] == pb["role"]).all()
    for col in pa.columns.drop(["id", "role"]):
        _close(pa[col], pb[col])
    sa, sb = full.steps, streamed.steps
    assert list(sa.columns) == list(sb.columns)
    for col in sa.columns:
        _close(sa[col], sb[col])
    ba, bb = full.bills(), streamed.bills()
    assert list(ba.columns) == list(bb.columns)
    money = float(np.abs(ba[["energy", "feed_in_credit", "total"]].to_numpy()).max())
    for col in ba.columns:
        _close(ba[col], bb[col], scale=money)  # p2p of a pool rule is 0 up to rounding of the bills


@pytest.fixture(scope="module")
def community() -> Community:
    return synthetic_community(40, periods=T, freq="15min", seed=7)


@pytest.fixture(scope="module")
def full(community: Community) -> peergrid.Comparison:
    return peergrid.compare(community, markets=POOL)


@pytest.mark.parametrize("block", [1, 7, 64, 100, T - 1, T, 10 * T])
@pytest.mark.parametrize("series", ["none", "full"])
def test_stream_equals_array_path_for_any_block(community, full, block, series):
    streamed = peergrid.compare(community, markets=POOL, series=series, block=block)
    for m in POOL:
        _same_result(full[m], streamed[m])
        assert streamed[m].series == series


def test_lazy_community_streams_by_default_and_equals_the_array_community(community, full):
    lazy = synthetic_community(40, periods=T, freq="15min", seed=7, lazy=True)
    assert lazy.lazy and not community.lazy
    res = peergrid.compare(lazy, markets=POOL, block=50)
    assert "load" not in lazy.__dict__ and "generation" not in lazy.__dict__  # never materialised
    for m in POOL:
        _same_result(full[m], res[m])
    # whole arrays on demand are the eager ones, bit for bit
    assert np.array_equal(lazy.load, community.load)
    assert np.array_equal(lazy.generation, community.generation)
    assert np.array_equal(lazy.net_block(slice(3, 40)), community.net[3:40])


def test_full_series_are_the_array_paths_series(community, full):
    res = peergrid.compare(community, markets=["sdr"], series="full", block=33)["sdr"]
    ref = full["sdr"]
    np.testing.assert_array_equal(res.net, ref.net)  # same arithmetic per element
    for what in ("charge", "discharge", "energy"):
        np.testing.assert_array_equal(getattr(res.battery, what), getattr(ref.battery, what))
    pd.testing.assert_frame_equal(res.soc(), ref.soc())
    ta, tb = ref.table(), res.table()
    for col in ta.columns.drop(["time", "participant"]):
        _close(ta[col], tb[col])


def test_float32_storage_rounds_series_only(community, full):
    res = peergrid.compare(community, markets=["sdr"], series="full", dtype="float32", block=41)["sdr"]
    assert res.net.dtype == np.float32 and res.battery.energy.dtype == np.float32
    _same_result(full["sdr"], res)  # the sums are float64, from the blocks
    ref = full["sdr"].net
    err = np.abs(res.net.astype(np.float64) - ref)
    assert np.all(err <= 2.0**-24 * np.abs(ref) + 1e-45)


def test_series_none_keeps_sums_only(community):
    res = peergrid.simulate(community, market="sdr", series="none")
    assert res.net is None and res.series == "none"
    assert res.battery.charge.shape == (0, res.battery.owners.size)
    for call in (res.table, res.allocation, res.soc, lambda: res.to_parquet("/nonexistent/never")):
        with pytest.raises(DataError, match="series='none'"):
            call()
    assert res.summary()["bill"]["total"] == pytest.approx(res.metrics["total_bill"])


def test_unsupported_combinations_refuse_series_none(community):
    with pytest.raises(ConfigError, match="pay-as-bid"):
        peergrid.simulate(community, market="pay-as-bid", series="none")
    with pytest.raises(ConfigError, match="lp"):
        peergrid.simulate(community, control="lp", series="none")
    with pytest.raises(ConfigError, match="price-response"):
        peergrid.simulate(community, coordination="price-response", series="none")
    with pytest.raises(ConfigError, match="forecaster"):
        peergrid.simulate(community, forecaster="persistence", dtype="float32")


@pytest.mark.parametrize(
    "kwargs",
    [{"series": "some"}, {"series": None}, {"dtype": "int8"}, {"dtype": "float16"}, {"block": 0}, {"block": -3},
     {"block": 2.5}, {"block": True}, {"block": 1 << 30}, {"dtype": object()}],
)  # fmt: skip
def test_bad_stream_options_are_config_errors(community, kwargs):
    with pytest.raises(ConfigError):
        peergrid.simulate(community, **kwargs)


def test_lazy_community_on_a_non_streaming_path_materialises(community):
    lazy = synthetic_community(40, periods=T, freq="15min", seed=7, lazy=True)
    a = peergrid.simulate(lazy, market="uniform")
    b = peergrid.simulate(community, market="uniform")
    assert a.metrics["traded_kwh"] == b.metrics["traded_kwh"]


def test_tariff_with_export_limit_and_demand_charge_streams(community):
    tariff = Tariff(
        currency="USD",
        energy=Rate.flat(0.25),
        network=Rate.flat(0.05),
        feed_in=Rate.flat(0.06),
        export_limit_kw=1.0,
        demand_per_kw_month=4.0,
        standing_per_day=0.3,
        vat=0.1,
    )
    com = apply_tariff(community, tariff)
    full = peergrid.compare(com, markets=["bs", "sdr"])
    streamed = peergrid.compare(com, markets=["bs", "sdr"], series="none", block=29)
    for m in ("bs", "sdr"):
        _same_result(full[m], streamed[m])
        assert streamed[m].bills()["demand"].sum() > 0


def test_no_carbon_intensity_and_no_batteries():
    com = synthetic_community(12, periods=50, freq="1h", seed=3, battery_share=0.0)
    com = Community(
        index=com.index, participants=com.participants, load=com.load, generation=com.generation,
        retail=com.retail, feed_in=com.feed_in,
    )  # fmt: skip
    full = peergrid.simulate(com, market="mmr")
    res = peergrid.simulate(com, market="mmr", series="none", block=9)
    _same_result(full, res)
    assert np.isnan(res.metrics["emissions_kg"])


def test_control_none_streams(community):
    full = peergrid.simulate(community, control="none")
    res = peergrid.simulate(community, control="none", series="none", block=17)
    _same_result(full, res)
    assert res.steps["battery_energy_kwh"].nunique() == 1


def test_greedy_state_blocks_equal_one_run(community):
    owners, fleet = battery_fleet(community)
    net = community.net[:, owners]
    ref = greedy_self_consumption(net, fleet, community.dt)
    state = GreedyState(fleet, community.dt)
    out = [np.empty_like(net) for _ in range(3)]
    for start in range(0, T, 13):
        rows = slice(start, min(start + 13, T))
        state.step(net[rows], out[0][rows], out[1][rows], out[2][rows])
    for a, b in zip(ref, out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_array_source_checks_values():
    with pytest.raises(DataError, match="negative"):
        ArraySource(np.array([[1.0, -1.0]]))
    with pytest.raises(DataError, match="NaN"):
        ArraySource(np.array([[1.0, np.nan]]))
    with pytest.raises(DataError, match="shape"):
        ArraySource(np.ones(3))


def test_block_source_shape_must_match_index(community):
    with pytest.raises(DataError, match="shape"):
        Community(
            index=community.index, participants=community.participants,
            load=ArraySource(community.load[:-1]), generation=community.generation,
        )  # fmt: skip


# ---- properties over random communities and block sizes ---------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 9),
    steps=st.integers(1, 60),
    block=st.integers(1, 70),
    seed=st.integers(0, 2**16),
    batt=st.floats(0.0, 1.0),
)
def test_stream_invariants(n, steps, block, seed, batt):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=steps, freq="1h", tz="UTC")
    load = rng.exponential(1.0, (steps, n)) * (rng.random((steps, n)) > 0.2)
    gen = rng.exponential(1.2, (steps, n)) * (rng.random((steps, n)) > 0.5)
    cap = np.where(rng.random(n) < batt, rng.uniform(0.5, 6.0, n), 0.0)
    parts = pd.DataFrame({"id": [f"m{i}" for i in range(n)], "battery_kwh": cap, "battery_kw": cap / 2,
                          "soc_init": rng.uniform(0, 1, n)})  # fmt: skip
    com = Community(index=idx, participants=parts, load=load, generation=gen, retail=0.3, feed_in=0.08)
    full = peergrid.compare(com, markets=["bs", "sdr"])
    res = peergrid.compare(com, markets=["bs", "sdr"], series="full", block=block)
    for m in ("bs", "sdr"):
        r = res[m]
        _same_result(full[m], r)
        s, p = r.steps, r.participants
        # energy per slot: bought = sold (traded) and D − G = Σ net; grid import/export close the balance
        np.testing.assert_allclose(
            s["load_kwh"] - s["generation_kwh"] + s["battery_charge_kwh"] - s["battery_discharge_kwh"],
            s["grid_import_kwh"] - s["grid_export_kwh"], atol=1e-9,
        )  # fmt: skip
        np.testing.assert_allclose(r.net.sum(axis=1), s["demand_kwh"] - s["supply_kwh"], atol=1e-9)
        # energy per member across block boundaries
        np.testing.assert_allclose(
            p["load_kwh"] - p["generation_kwh"] + p["battery_charge_kwh"] - p["battery_discharge_kwh"],
            p["grid_import_kwh"] + p["bought_kwh"] - p["grid_export_kwh"] - p["sold_kwh"], atol=1e-9,
        )  # fmt: skip
        assert p["bought_kwh"].sum() == pytest.approx(p["sold_kwh"].sum(), abs=1e-9)
    # battery: within its band, and continuous across blocks (each step follows from the previous one)
    b = res["sdr"].battery
    if b.owners.size:
        _, fleet = battery_fleet(com)
        assert np.all(b.energy >= fleet.e_min - 1e-12) and np.all(b.energy <= fleet.e_max + 1e-12)
        prev = np.vstack([fleet.e_init[None, :], b.energy[:-1]])
        step = prev + fleet.eff_charge * b.charge - b.discharge / fleet.eff_discharge
        np.testing.assert_allclose(b.energy, np.clip(step, fleet.e_min, fleet.e_max), atol=1e-12)
        assert np.all(np.minimum(b.charge, b.discharge) == 0)  # never both in one step


class _UserSource(BlockSource):
    """A user's block source returning what ``make`` gives (possibly hostile)."""

    def __init__(self, shape, make):
        self.shape = shape
        self.make = make

    def block(self, rows):
        return self.make(rows)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda r: np.ones((r.stop - r.start, 3)), "shape"),
        (lambda r: np.ones((r.stop - r.start + 1, 4)), "shape"),
        (lambda r: -np.ones((r.stop - r.start, 4)), "negative"),
        (lambda r: np.full((r.stop - r.start, 4), np.nan), "NaN"),
        (lambda r: np.full((r.stop - r.start, 4), np.inf), "NaN"),
    ],
)
def test_hostile_block_sources_are_data_errors(make, match):
    idx = pd.date_range("2024-01-01", periods=30, freq="1h", tz="UTC")
    com = Community(index=idx, participants=None, load=_UserSource((30, 4), make), generation=np.zeros((30, 4)))
    with pytest.raises(DataError, match=match):
        peergrid.simulate(com, series="none", block=7)


def test_user_block_source_streams_like_its_array():
    rng = np.random.default_rng(5)
    load = rng.exponential(1.0, (50, 6))
    gen = rng.exponential(0.8, (50, 6))
    idx = pd.date_range("2024-01-01", periods=50, freq="1h", tz="UTC")
    parts = pd.DataFrame(
        {"id": list("abcdef"), "battery_kwh": [0, 4, 0, 6, 0, 2.0], "battery_kw": [0, 2, 0, 3, 0, 1.0]}
    )
    arr = Community(index=idx, participants=parts, load=load, generation=gen)
    lazy = Community(index=idx, participants=parts, load=_UserSource((50, 6), lambda r: load[r]), generation=gen)
    assert lazy.lazy
    _same_result(peergrid.simulate(arr), peergrid.simulate(lazy, block=11))


def test_profile_source_checks_its_tables():
    with pytest.raises(DataError, match="column"):
        ProfileSource(np.ones((5, 2)), np.array([0, 2]), np.ones(2))
    with pytest.raises(DataError, match="factor"):
        ProfileSource(np.ones((5, 2)), np.array([0, 1]), np.array([1.0, -1.0]))
    with pytest.raises(DataError, match="profiles"):
        ProfileSource(np.full((5, 2), np.nan), np.array([0, 1]), np.ones(2))
    with pytest.raises(DataError, match="lazy"):
        synthetic_community(5, periods=10, lazy="yes")


def test_lazy_community_pickles_lazily_and_round_trips_parquet(tmp_path, community, full):
    lazy = synthetic_community(40, periods=T, freq="15min", seed=7, lazy=True)
    again = pickle.loads(pickle.dumps(lazy))
    assert again.lazy and "load" not in again.__dict__
    res = peergrid.compare(again, markets=["sdr"], block=64)["sdr"]  # lazy: streams, keeps series
    _same_result(full["sdr"], res)
    res.to_parquet(tmp_path / "sdr")
    back = peergrid.Comparison.from_parquet(tmp_path)["sdr"]
    for k, v in res.metrics.items():
        assert back.metrics[k] == pytest.approx(v, rel=1e-12, abs=1e-12) or (np.isnan(v) and np.isnan(back.metrics[k]))
    _close(back.participants["bill"], res.participants["bill"])


def test_threads_do_not_change_results(community, monkeypatch):
    from peergrid.simulate import stream

    out = []
    for n in (1, 2, 3):
        monkeypatch.setattr(stream, "THREADS", n)
        r = peergrid.compare(community, markets=["mmr", "sdr"], series="full", block=23)
        out.append(r)
    for r in out[1:]:
        for m in ("mmr", "sdr"):
            assert r[m].metrics == out[0][m].metrics  # bit for bit: chunks and sum order are fixed
            pd.testing.assert_frame_equal(r[m].participants, out[0][m].participants, check_exact=True)
            np.testing.assert_array_equal(r[m].net, out[0][m].net)
