"""Battery control: rule of thumb against the cost-optimal LP.

Twenty synthetic homes (built from the measured CityLearn homes), two days at 15 min,
60 % with PV and half of them with a battery. ``greedy`` charges surplus and discharges
deficit; ``lp`` minimises each home's own bill with perfect foresight (HiGHS);
``lp-community`` minimises the bill at the point of common coupling. Each is settled
alone (no P2P) and with supply-demand ratio (SDR) sharing.
"""

import peergrid
from peergrid.data import synthetic_community

community = synthetic_community(
    20, start="2022-06-01", periods=96 * 2, freq="15min", pv_share=0.6, battery_share=0.5, seed=1
)
for control in ["none", "greedy", "lp", "lp-community"]:
    alone = peergrid.simulate(community, market="baseline", control=control).metrics["community_cost"]
    pooled = peergrid.simulate(community, market="sdr", control=control).metrics
    print(
        f"{control:12s} bill alone {alone:6.2f}   with SDR sharing {pooled['community_cost']:6.2f}"
        f"   peak import {pooled['peak_import_kw']:5.1f} kW"
    )
