"""write_report: files, self-contained HTML, content, summary.json."""

from __future__ import annotations

import base64
import html
import json
import re

import numpy as np
import pandas as pd
import pytest

import peergrid
from peergrid.report import METRIC_COLUMNS, summary_json, to_jsonable, write_report
from peergrid.report.page import _fmt

PNGS = ("daily_profiles", "prices", "savings", "soc", "energy_flows")
HEADLINE = ("self_sufficiency", "self_consumption", "community_cost", "cost_reduction", "pm", "peak_import_kw")


@pytest.fixture(scope="module")
def report(comparison, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    path = write_report(
        comparison,
        out / "sub",
        title="Test <study>",
        scenario={"name": "demo", "n": 10, "tariff": {"retail": 0.3, "feed_in": np.float64(0.08)}},
        notes=["first note", "prices & <tags> are escaped"],
    )
    return path


def test_writes_all_files(report):
    out = report.parent
    assert report.name == "report.html" and report.is_file()
    for stem in PNGS:
        data = (out / f"{stem}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
    assert (out / "summary.json").is_file()


def test_html_is_self_contained(report):
    text = report.read_text(encoding="utf-8")
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", text, flags=re.I)
    assert refs, "expected images and in-page links"
    for ref in refs:
        assert ref.startswith(("data:image/png;base64,", "#")), ref[:60]
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower()
    assert '<link rel="stylesheet"' not in text and "@import" not in text
    # every PNG written alongside is embedded byte for byte
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(uris) == len(PNGS)
    embedded = {base64.b64decode(u) for u in uris}
    for stem in PNGS:
        assert (report.parent / f"{stem}.png").read_bytes() in embedded


def test_html_accessible_markup(report):
    text = report.read_text(encoding="utf-8")
    assert '<html lang="en">' in text
    assert 'name="viewport"' in text and "max-width" in text
    imgs = re.findall(r"<img [^>]*>", text)
    assert len(imgs) == len(PNGS)
    for tag in imgs:
        alt = re.search(r'alt="([^"]*)"', tag)
        assert alt and len(alt.group(1)) > 20
    assert 'scope="col"' in text and 'scope="row"' in text
    assert "<title>Test &lt;study&gt;</title>" in text


def test_html_content(report, comparison, source):
    text = report.read_text(encoding="utf-8")
    plain = html.unescape(text)
    assert source in text and source in plain  # provenance and licence, verbatim
    for name, res in comparison.items():
        row = re.search(rf'<tr data-market="{name}">(.*?)</tr>', text)
        assert row, name
        for key, _, kind in METRIC_COLUMNS:
            cell = re.search(rf'<td data-metric="{key}">(.*?)</td>', row.group(1))
            assert cell, (name, key)
            assert cell.group(1) == _fmt(kind, res.metrics[key], "EUR")
    assert "EUR" in text
    # community summary, scenario, notes
    s = comparison.community.summary()
    for label in ("Participants", "Prosumers", "Batteries", "Span", "Step", "Data source"):
        assert f'<th scope="row">{label}</th>' in text
    assert f"<td>{s['participants']}</td>" in text
    assert "15 min" in text and "Europe/Berlin" in text
    assert "demo" in text and "first note" in text
    assert "prices &amp; &lt;tags&gt; are escaped" in text
    # definitions and citations
    for cite in (
        "Lange (2025), eq. 5",
        "Lange (2025), eq. 6",
        "Lange (2025), eq. 7",
        "Lange (2025), eq. 8",
        "Liu et al. 2017",
        "Long et al. 2017",
        "Zhou et al. 2018",
    ):
        assert cite in plain, cite
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">', text)


def test_summary_json_file(report, source):
    data = json.loads((report.parent / "summary.json").read_text(encoding="utf-8"))
    assert {"peergrid_version", "scenario", "notes", "community", "markets", "tz", "data", "seeds"} <= set(data)
    assert data["scenario"]["tariff"] == {"retail": 0.3, "feed_in": 0.08}
    assert data["community"]["source"] == source
    for market in ("baseline", "bs", "mmr", "sdr"):
        for key in HEADLINE:
            assert key in data["markets"][market], (market, key)
            v = data["markets"][market][key]
            assert v is None or isinstance(v, float)


def test_summary_json_is_strict_json(comparison):
    data = summary_json(comparison)
    assert data["scenario"] is None
    assert data["markets"]["baseline"]["jain_fairness"] is None  # NaN -> None (nobody saves)
    json.dumps(data, allow_nan=False)
    assert data["markets"]["sdr"] == {k: v for k, v in comparison["sdr"].summary().items()}


def test_to_jsonable():
    value = {
        "a": np.float32(1.5),
        "b": np.int64(3),
        "c": float("nan"),
        "d": np.array([1.0, np.inf]),
        "e": pd.Timestamp("2022-01-01", tz="UTC"),
        1: (np.bool_(True), None),
    }
    out = to_jsonable(value)
    assert out == {"a": 1.5, "b": 3, "c": None, "d": [1.0, None], "e": "2022-01-01T00:00:00+00:00", "1": [True, None]}
    json.dumps(out, allow_nan=False)


def test_no_batteries_still_reports(no_battery_comparison, tmp_path):
    path = write_report(no_battery_comparison, tmp_path)
    assert (tmp_path / "soc.png").is_file()
    text = path.read_text(encoding="utf-8")
    assert "no batteries" in text
    assert '<th scope="row">Batteries</th><td>0</td>' in text
    assert "Scenario</h2>" not in text and "Notes</h2>" not in text


def test_single_market_and_source_with_special_characters(tmp_path, make_community):
    src = "Data & profiles <test>, CC BY 4.0"
    com = make_community(96, 6, batteries=1, source=src)
    cmp = peergrid.compare(com, markets=["baseline"])
    path = write_report(cmp, tmp_path, title="baseline only")
    text = path.read_text(encoding="utf-8")
    assert src in html.unescape(text)
    assert '<tr data-market="baseline">' in text
    assert json.loads((tmp_path / "summary.json").read_text())["markets"].keys() == {"baseline"}


def test_empty_comparison_is_an_error(tmp_path):
    with pytest.raises(peergrid.PeergridError):
        write_report(peergrid.Comparison({}), tmp_path)


def test_glossary_covers_every_market(order_comparison, tmp_path):
    """Every market of the results has a glossary entry (with its citation) on the page."""
    from peergrid.market import MARKETS, REGISTRY
    from peergrid.report.page import glossary_entries

    assert all(len(REGISTRY[m].description) > 80 and REGISTRY[m].term for m in MARKETS)
    path = write_report(order_comparison, tmp_path)
    text = path.read_text(encoding="utf-8")
    plain = html.unescape(text)
    glossary = text[text.index('id="definitions"') :]
    for name in order_comparison:
        entry = re.search(rf'<dt data-market="{re.escape(name)}">(.*?)</dt><dd>(.*?)</dd>', glossary)
        assert entry, name
        assert len(entry.group(2)) > 80, name
    for cite in ("McAfee 1992", "Tooki et al. 2025", "Satterthwaite & Williams 1989", "Gode & Sunder 1993"):
        assert cite in plain, cite
    assert "Bidding strategies" in plain
    names = [m for m, _, _ in glossary_entries(list(order_comparison)) if m]
    assert sorted(names) == sorted(order_comparison)


def test_glossary_lists_only_the_markets_shown(report, comparison):
    text = html.unescape(report.read_text(encoding="utf-8"))
    assert set(re.findall(r'<dt data-market="([^"]+)">', text)) == set(comparison)
    assert "McAfee 1992" not in text and "Bidding strategies" not in text
