"""Reports of simulation studies: figures, a self-contained HTML page and a JSON summary.

>>> from peergrid.report import write_report          # doctest: +SKIP
>>> write_report(peergrid.compare(community), "out/", format="svg", dpi=300)  # doctest: +SKIP
PosixPath('out/report.html')

Plotting API: every figure is also available on its own (``plot_daily_profiles``,
``plot_prices``, ``plot_savings``, ``plot_soc``, ``plot_energy_flows``), taking a
:class:`~peergrid.simulate.Comparison` or a single :class:`~peergrid.simulate.Result`
and returning a :class:`matplotlib.figure.Figure`, for notebooks and papers; save
it with :func:`save_figure` (PNG, SVG or PDF at any dpi). Matplotlib is used without
:mod:`matplotlib.pyplot`, so the user's backend choice is left untouched. Times are
the community's local time (:attr:`peergrid.Community.tz`).
"""

from peergrid.report.page import (
    DEFAULT_DPI,
    FORMATS,
    METRIC_COLUMNS,
    check_format,
    file_provenance,
    metrics_table_html,
    rebuild_report,
    save_figure,
    summary_json,
    to_jsonable,
    write_report,
)
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
    "DEFAULT_DPI",
    "FORMATS",
    "METRIC_COLUMNS",
    "PLOTS",
    "Window",
    "check_format",
    "display_tz",
    "energy_flows",
    "file_provenance",
    "market_label",
    "metrics_table_html",
    "plot_daily_profiles",
    "plot_energy_flows",
    "plot_prices",
    "plot_savings",
    "plot_soc",
    "profile_market",
    "rebuild_report",
    "representative_week",
    "save_figure",
    "summary_json",
    "to_jsonable",
    "write_report",
]
