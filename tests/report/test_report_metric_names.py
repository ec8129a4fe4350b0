"""Finding 6: one name per metric — the registry labels the CLI, report and README the same way."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import peergrid
from peergrid.metrics import METRICS, TABLE_METRICS, metric_label, metrics_markdown_table
from peergrid.report import METRIC_COLUMNS, write_report

ROOT = Path(__file__).resolve().parents[2]


def test_readme_metric_table_matches_the_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("| key | label | unit | definition | reference | function |")
    end = readme.index("\n\n", start) + 1
    assert readme[start:end] == metrics_markdown_table(), "regenerate with peergrid.metrics.metrics_markdown_table()"
    keys = re.findall(r"^\| `([a-z_]+)` \|", readme[start:end], flags=re.M)
    assert keys == [k for k, m in METRICS.items() if m.core]


def test_every_engine_metric_is_registered(comparison):
    for res in comparison.values():
        assert set(res.metrics) <= set(METRICS), set(res.metrics) - set(METRICS)
    assert set(TABLE_METRICS) <= set(METRICS)


def test_labels_are_unique_and_the_agreed_ones():
    labels = [m.label for m in METRICS.values()]
    assert len(labels) == len(set(labels))
    assert metric_label("cost_reduction") == "Purchase-cost reduction"
    assert metric_label("community_cost_reduction") == "Community net-bill reduction"
    assert METRICS["cost_reduction"].reference == "Lange (2025), eq. 7"
    for m in METRICS.values():
        assert m.key and m.label and m.unit and m.definition, m.key
        assert "|" not in m.definition + m.label + m.reference  # safe in Markdown tables


def test_format_and_heading():
    assert METRICS["cost_reduction"].format(0.1234) == "12.3 %"
    assert METRICS["community_cost"].format(-1234.5, "EUR") == "-1,234.50 EUR"
    assert METRICS["pm"].format(float("nan")) == "–"
    assert METRICS["pm"].format(None) == "–"
    assert METRICS["community_cost"].heading("EUR") == "Community cost (EUR)"
    assert METRICS["peak_import_kw"].heading() == "Peak import (kW)"
    assert METRICS["self_sufficiency"].heading() == "Self-sufficiency"


def test_report_headings_and_glossary_use_the_registry(comparison, tmp_path):
    text = write_report(comparison, tmp_path).read_text(encoding="utf-8")
    for key, label, _ in METRIC_COLUMNS:
        assert label == METRICS[key].label
        assert f">{METRICS[key].heading('EUR')}</th>" in text
        assert f"<dt>{label}" in text
    assert "Purchase-cost reduction (Lange (2025), eq. 7)" in text
    assert "Community net-bill reduction" in text


SYNONYMS = re.compile(r"purchase saving|\bCost reduction\b")


@pytest.mark.parametrize("folder", ["src", "docs", "README.md"])
def test_no_metric_synonyms_left(folder):
    """'purchase saving' and 'Cost reduction' (capitalised, as a label) are gone from code, templates and docs."""
    root = ROOT / folder
    files = [root] if root.is_file() else [p for p in root.rglob("*") if p.suffix in {".py", ".md", ".html", ".js"}]
    hits = []
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if SYNONYMS.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_registry_values_match_the_paper_metrics():
    """cost_reduction is the purchase-cost reduction (Lange 2025, eq. 7), hand-computed."""
    from peergrid.core import make_index

    # one buyer (2 kWh/step), one seller (2 kWh/step surplus), 4 steps, λb = 0.3, λs = 0.1
    T = 4
    load = np.array([[2.0, 0.0]] * T)
    gen = np.array([[0.0, 2.0]] * T)
    import pandas as pd

    com = peergrid.Community(make_index("2022-06-01", T, "1h"), pd.DataFrame({"id": ["b", "s"]}), load, gen, 0.3, 0.1)
    m = peergrid.compare(com, markets=["baseline", "mmr"], control="none")["mmr"].metrics
    # no P2P: the buyer pays 4 * 2 * 0.3 = 2.4; MMR: everything at (0.3 + 0.1) / 2 = 0.2 -> 1.6
    assert m["cost_reduction"] == pytest.approx((2.4 - 1.6) / 2.4)
    # net bill: no P2P 2.4 - 0.8 = 1.6; with P2P 0 (all energy stays inside) -> reduction 1
    assert m["community_cost_reduction"] == pytest.approx(1.0)


def test_registry_functions_compute_the_engine_values(comparison):
    """Each metric's registered function recomputes the simulator's value from the run's totals."""
    import peergrid.metrics as M

    for m in METRICS.values():
        if m.function is not None:
            assert getattr(M, m.function.__name__) is m.function, m.key  # public in peergrid.metrics
    for res in comparison.values():
        v = res.metrics
        assert METRICS["self_sufficiency"].function(v["load_kwh"], v["grid_import_kwh"]) == pytest.approx(
            v["self_sufficiency"], nan_ok=True
        )
        assert METRICS["self_consumption"].function(v["generation_kwh"], v["grid_export_kwh"]) == pytest.approx(
            v["self_consumption"], nan_ok=True
        )
        assert METRICS["community_cost_reduction"].function(v["community_cost"], v["baseline_cost"]) == pytest.approx(
            v["community_cost_reduction"], nan_ok=True
        )
        assert METRICS["peak_to_average"].function(res.clearing.grid_import / res.community.dt) == pytest.approx(
            v["peak_to_average"], nan_ok=True
        )



def test_dashboard_headings_come_from_the_registry():
    """The dashboard's report rows name registered metrics through the ``metric()`` global, not literal labels."""
    from peergrid.service.dashboard.render import HERE, templates

    assert templates.env.from_string('{{ metric("self_sufficiency") }}').render() == "Self-sufficiency"
    assert templates.env.from_string('{{ metric("grid_import_kwh") }}').render() == "Grid import (kWh)"
    headings = {m.heading() for m in METRICS.values()} | {m.label for m in METRICS.values()}
    for path in (HERE / "templates").glob("*.html"):
        literal = set(re.findall(r'<th scope="row">([^<{]+)</th>', path.read_text(encoding="utf-8")))
        assert not literal & headings, (path.name, literal & headings)
    member = (HERE / "templates" / "member.html").read_text(encoding="utf-8")
    assert 'metric("net_bill_reduction")' in member
