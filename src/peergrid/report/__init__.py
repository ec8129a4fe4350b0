"""Reports of simulation studies: figures, a self-contained HTML page and a JSON summary.

>>> from peergrid.report import write_report          # doctest: +SKIP
>>> write_report(peergrid.compare(community), "out/")  # doctest: +SKIP
PosixPath('out/report.html')

Every figure is also available on its own (``plot_*``, returning a
:class:`matplotlib.figure.Figure`), for notebooks. Matplotlib is used without
:mod:`matplotlib.pyplot`, so the user's backend choice is left untouched.
"""

from peergrid.report.page import METRIC_COLUMNS, metrics_table_html, summary_json, to_jsonable, write_report
from peergrid.report.plots import (
    PLOTS,
    Window,
    display_tz,
    energy_flows,
    market_label,
    plot_daily_profiles,
    plot_energy_flows,
    plot_prices,
    plot_savings,
    plot_soc,
    profile_market,
    representative_week,
)

__all__ = [
    "METRIC_COLUMNS",
    "PLOTS",
    "Window",
    "display_tz",
    "energy_flows",
    "market_label",
    "metrics_table_html",
    "plot_daily_profiles",
    "plot_energy_flows",
    "plot_prices",
    "plot_savings",
    "plot_soc",
    "profile_market",
    "representative_week",
    "summary_json",
    "to_jsonable",
    "write_report",
]
