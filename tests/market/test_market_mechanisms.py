"""One mechanism registry: every list of mechanisms reads from peergrid.market.REGISTRY.

Adding a mechanism is one registry entry plus its function: a mechanism registered before
the consumers are imported shows up in the simulator, the scenario schema, the service's
models and OpenAPI enum and the report's glossary (a subprocess, so nothing leaks).
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from peergrid import ConfigError
from peergrid.market import (
    MARKETS,
    MECHANISM_NAMES,
    MECHANISMS,
    ORDER_MECHANISMS,
    REGISTRY,
    Mechanism,
    OrderBook,
    check_market,
    clear,
    clear_net,
    is_order_market,
    mechanism_names,
    mid_market_rate,
    register,
    takes_option,
    uniform_price,
    unregister,
)
from peergrid.market.mechanisms import K_OPTION

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_in_registry():
    assert mechanism_names() == ("baseline", "bs", "mmr", "sdr", "uniform", "pay-as-bid", "mcafee", "bilateral")
    assert mechanism_names("pool") == tuple(MECHANISMS) == ("baseline", "bs", "mmr", "sdr")
    assert mechanism_names("order-book") == tuple(ORDER_MECHANISMS)
    assert tuple(MARKETS) == tuple(REGISTRY) == tuple(MECHANISM_NAMES)
    assert MARKETS == mechanism_names() and len(MARKETS) == 8 and "sdr" in MARKETS and MARKETS[-1] == "bilateral"
    for name, m in REGISTRY.items():
        assert m.name == name and m.label and m.term and len(m.description) > 80, name
        assert (MECHANISMS if m.kind == "pool" else ORDER_MECHANISMS)[name] is m.function
    assert [o.name for o in REGISTRY["uniform"].options] == ["k"]
    assert [(o.name, o.keyword) for o in REGISTRY["bilateral"].options] == [("k", "k"), ("fee", "fees")]
    assert takes_option("Uniform", "k") and takes_option("bilateral", "fee") and not takes_option("mcafee", "k")
    assert REGISTRY["bilateral"].reference == "Tooki et al. (2025), eqs. 10–12"
    assert REGISTRY["sdr"].reference.startswith("Lange (2025), eqs. 2–4")
    with pytest.raises(ConfigError, match="unknown mechanism kind"):
        mechanism_names("auction")  # type: ignore[arg-type]


def test_references_are_cited_in_the_docs():
    """Every reference names a work of docs/references.md."""
    refs = (ROOT / "docs" / "references.md").read_text(encoding="utf-8")
    for m in REGISTRY.values():
        for part in filter(None, m.reference.split("; ")):
            author = part.split(" (")[0].split(" et al.")[0].split(" and ")[0]
            year = part.split("(")[1][:4]
            assert author in refs and year in refs, (m.name, part)


def test_entries_are_checked():
    with pytest.raises(ConfigError, match="kind must be one of"):
        Mechanism("x", "X", "auction", mid_market_rate, "", "X", "x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lower case"):
        Mechanism("Pay_As_Clear", "X", "pool", mid_market_rate, "", "X", "x")
    with pytest.raises(ConfigError, match="already registered"):
        register(REGISTRY["sdr"])


def _toy_pool(demand, supply, retail, feed_in):
    """MMR under another name."""
    return replace(mid_market_rate(demand, supply, retail, feed_in), mechanism="toy")


@pytest.fixture
def toy():
    """A temporarily registered pool rule and order book."""
    pool = register(Mechanism("toy", "Toy rule", "pool", _toy_pool, "", "TOY – toy rule", "MMR again."))
    book = register(
        Mechanism("toy-book", "Toy book", "order-book", uniform_price, "", "TOY-BOOK", "Uniform again.", (K_OPTION,))
    )
    yield pool, book
    unregister("toy")
    unregister("toy-book")
    assert "toy" not in MECHANISMS and "toy-book" not in ORDER_MECHANISMS and len(MARKETS) == 8


def test_a_registered_mechanism_runs_everywhere_in_the_market(toy):
    # pool rules stay before the order books
    assert mechanism_names() == ("baseline", "bs", "mmr", "sdr", "toy", "uniform", "pay-as-bid", "mcafee",
                                 "bilateral", "toy-book")  # fmt: skip
    assert tuple(MARKETS)[4] == "toy" and MECHANISMS["toy"] is _toy_pool and "toy-book" in ORDER_MECHANISMS
    assert check_market("TOY") == "toy" and is_order_market("toy_book") and not is_order_market("toy")
    net = np.array([[2.0, -1.0], [-0.5, 1.5]])
    a, b = clear(net, 0.30, 0.10, "toy"), clear(net, 0.30, 0.10, "mmr")
    np.testing.assert_array_equal(a.price_buy, b.price_buy)
    # the registry's options reach the function: k = 1 prices at the bid (λb under truthful bidding)
    c, u = clear_net(net, 0.30, 0.10, "toy-book", k=1.0), clear_net(net, 0.30, 0.10, "uniform", k=1.0)
    np.testing.assert_array_equal(c.bill, u.bill)
    assert c.options["k"] == 1.0


def test_a_registered_mechanism_reaches_every_consumer():
    """One entry: the simulator, scenario schema, service models, OpenAPI enum, CLI and report glossary list it."""
    script = r"""
import json
import typing
from dataclasses import replace
from peergrid.market import Mechanism, mid_market_rate, register, uniform_price
from peergrid.market.mechanisms import K_OPTION

def toy(demand, supply, retail, feed_in):
    return replace(mid_market_rate(demand, supply, retail, feed_in), mechanism="toy")

register(Mechanism("toy", "Toy rule", "pool", toy, "", "TOY – toy rule", "MMR under another name."))
register(Mechanism("toy-book", "Toy book", "order-book", uniform_price, "", "TOY-BOOK", "Uniform.", (K_OPTION,)))

import pandas as pd
import peergrid
from peergrid.cli._common import MarketsOpt
from typer.testing import CliRunner
from peergrid.cli import clear as clear_cli
from peergrid.core import make_index
from peergrid.report.page import glossary_entries
from peergrid.service import models
from peergrid.service.schemas import CommunityIn
from peergrid.simulate.scenario import INTER_MARKETS, scenario_from_dict

sc = scenario_from_dict({"simulation": {"markets": ["baseline", "toy"]}})
com = peergrid.Community(make_index("2022-06-01", 2, "1h"), pd.DataFrame({"id": ["b", "s"]}),
                         [[2.0, 0.0]] * 2, [[0.0, 1.0]] * 2, 0.3, 0.1)
cmp = peergrid.compare(com, markets=["mmr", "toy"], control="none")
schema = CommunityIn.model_json_schema()
print(json.dumps({
    "scenario": sc.markets,
    "inter": list(INTER_MARKETS),
    "enum": schema["properties"]["mechanism"]["enum"],
    "pool": list(models.POOL_MECHANISMS),
    "service": CommunityIn(name="c", mechanism="toy").mechanism,
    "glossary": [t for m, t, _ in glossary_entries(["toy"])],
    "bills": [cmp["toy"].metrics["community_cost"], cmp["mmr"].metrics["community_cost"]],
    "markets_help": typing.get_args(MarketsOpt)[1].help,
    "clear_choices": [m.value for m in clear_cli.Mechanism],
    "clear_help": CliRunner().invoke(clear_cli.app, ["--help"], env={"COLUMNS": "400"}).output,
}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["scenario"] == ["baseline", "toy"]
    assert got["inter"] == ["none", "bs", "mmr", "sdr", "toy"]
    assert got["enum"][-2:] == ["toy", "baseline"] and got["pool"] == ["bs", "mmr", "sdr", "toy", "baseline"]
    assert got["service"] == "toy" and got["glossary"] == ["TOY – toy rule"]
    assert got["bills"][0] == pytest.approx(got["bills"][1])
    assert "sdr, toy, uniform" in got["markets_help"] and got["markets_help"].count("toy") == 2
    assert got["clear_choices"] == ["uniform", "pay-as-bid", "mcafee", "bilateral", "toy-book"]
    assert "uniform|pay-as-bid|mcafee|bilateral|toy-book" in got["clear_help"]  # the --mechanism choices
    assert "(uniform, bilateral, toy-book)." in got["clear_help"]  # --k applies to the mechanisms with a k


def test_every_consumer_lists_exactly_the_registry():
    from peergrid.report.page import glossary_entries
    from peergrid.service import models, schemas
    from peergrid.simulate.scenario import INTER_MARKETS

    assert set(models.MECHANISMS) == set(REGISTRY) and len(models.MECHANISMS) == len(REGISTRY)
    assert models.ORDER_MECHANISMS == mechanism_names("order-book")
    assert set(models.POOL_MECHANISMS) == set(mechanism_names("pool"))
    # the OpenAPI enum keeps the service's order: order books, pool rules, the no-P2P baseline last
    assert typing.get_args(schemas.Mechanism) == models.MECHANISMS == (
        "uniform", "pay-as-bid", "mcafee", "bilateral", "bs", "mmr", "sdr", "baseline")  # fmt: skip
    assert set(INTER_MARKETS) == {"none", *mechanism_names("pool")} - {"baseline"}
    assert [m for m, _, _ in glossary_entries(list(MARKETS)) if m] == list(MARKETS)
    assert all(len(name) <= 16 for name in REGISTRY)  # the service's communities.mechanism column
    from peergrid.cli import clear as clear_cli
    from peergrid.cli._common import MarketsOpt

    assert [m.value for m in clear_cli.Mechanism] == list(mechanism_names("order-book"))
    assert f"({', '.join(MARKETS)})" in typing.get_args(MarketsOpt)[1].help


def test_docs_list_exactly_the_registry():
    """docs/markets.md holds the generated table; its family table and the README's --markets row list every name."""
    import re

    from peergrid.market import mechanisms_markdown_table

    doc = (ROOT / "docs" / "markets.md").read_text(encoding="utf-8")
    assert mechanisms_markdown_table() in doc, "regenerate with peergrid.market.mechanisms_markdown_table()"
    pool_row = next(ln for ln in doc.splitlines() if ln.startswith("| **pool rules** |"))
    book_row = next(ln for ln in doc.splitlines() if ln.startswith("| **order books** |"))
    assert set(re.findall(r"`([a-z-]+)`", pool_row.split("|")[2])) == set(mechanism_names("pool"))
    assert re.findall(r"`([a-z-]+)`", book_row.split("|")[2].split(";")[0]) == list(mechanism_names("order-book"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(ln for ln in readme.splitlines() if ln.startswith("| `--markets a,b,c` |"))
    assert re.findall(r"`([a-z-]+)`", row.split("|")[2].split(";")[0]) == list(MARKETS)


def test_options_check_their_bounds():
    from peergrid.market import check_order_options
    from peergrid.market.mechanisms import FEE_OPTION

    assert K_OPTION.check(1) == 1.0 and FEE_OPTION.check(0.02) == 0.02
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ConfigError, match=r"k must be in \[0, 1\], got"):
            K_OPTION.check(bad)
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="fee must be a finite number >= 0, got"):
            FEE_OPTION.check(bad)
    with pytest.raises(ConfigError, match=r"k must be in \[0, 1\], got 2.0"):
        check_order_options(k=2)
    with pytest.raises(ConfigError, match="k must be in"):
        uniform_price(OrderBook.from_arrays([0, 1], [1, -1], [1.0, 1.0], [0.3, 0.1]), k=1.1)
