"""Figures of a study, one by one, for a paper or a notebook.

Every ``peergrid.report.plot_*`` function takes a comparison and returns a
:class:`matplotlib.figure.Figure` (made without ``pyplot``, so your backend choice is
left alone); save it in any format matplotlib writes. This script writes five SVG
files into the current directory. ``peergrid.report.write_report`` puts all of them,
with the metrics table, into one self-contained HTML page.
"""

import peergrid
from peergrid.data import citylearn_community
from peergrid.report import (
    plot_daily_profiles,
    plot_energy_flows,
    plot_prices,
    plot_savings,
    plot_soc,
    representative_week,
)

community = citylearn_community(periods=24 * 14)  # two weeks, hourly
comparison = peergrid.compare(community, markets=["baseline", "bs", "mmr", "sdr"])
week = representative_week(comparison)
print(week.label)

figures = {
    "daily_profiles": plot_daily_profiles(comparison),
    "energy_flows": plot_energy_flows(comparison),
    "prices": plot_prices(comparison, week),
    "savings": plot_savings(comparison),
    "soc": plot_soc(comparison, week),
}
for name, fig in figures.items():
    fig.savefig(f"{name}.svg")
    print(f"wrote {name}.svg ({len(fig.axes)} axes)")
