"""A federation of energy clusters (the cycle-driven model of Petri et al. 2020).

Two hundred nodes in four clusters exchange energy for 30 cycles over an overlay whose views
are rewired by Newscast; the totals are the paper's eqs. 1-3 (number of exchanges,
energy exchanged, cost). The same federation with static views and with strategic
migration between clusters shows what the overlay and migration change.
"""

from peergrid.federation import config_from_dict, simulate

variants = {
    "newscast rewiring": {},
    "static views": {"overlay": {"rewiring": "none"}},
    "strategic migration": {"migration": {"strategy": "strategic"}},
}
for label, overrides in variants.items():
    config = config_from_dict({"nodes": 200, "cycles": 30, "clusters": {"count": 4}, **overrides})
    totals = simulate(config, seed=1).totals()
    print(
        f"{label:20s} exchanges {totals['exchanges']:5.0f}  energy {totals['exchanged_kwh']:7.1f} kWh"
        f"  cost {totals['cost']:7.1f}  unmet {totals['unmet_kwh']:6.1f} kWh  migrations {totals['migrations']:3.0f}"
    )
