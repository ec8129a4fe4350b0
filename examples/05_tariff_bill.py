"""Members' bills under a real tariff, with a reduced network charge on shared energy.

The shipped German household tariff (`de-household`: energy, network charge, electricity
tax, 19 % VAT, standing charge, feed-in tariff; prices net of VAT) is applied to the
CityLearn homes for 30 days. A second version of it charges only a third of the network
fee on energy bought from peers, as some European energy-community schemes do. Each
member's grid-side bill is split into its components for the no-P2P baseline and for
supply-demand ratio (SDR) sharing; the peer payments themselves are settled inside the
community at the SDR prices, which lie between the feed-in tariff and the gross retail price.
"""

import peergrid
from peergrid.data import citylearn_community
from peergrid.market import apply_tariff, shipped_tariff
from peergrid.market.tariff import bill_components

tariff = shipped_tariff("de-household")
local = tariff.with_(local_network=tariff.network.price / 3)  # EUR/kWh bought from peers, net of VAT
print(f"{tariff.name}: {tariff.description}")

community = apply_tariff(citylearn_community(periods=24 * 30), tariff)
print(f"retail λb {community.retail[0]:.4f}, feed-in λs {community.feed_in[0]:.4f} {community.currency}/kWh")

columns = ["energy", "network", "local_network", "standing", "tax", "vat", "feed_in_credit", "total"]
for market in ["baseline", "sdr"]:
    alloc = peergrid.simulate(community, market=market, control="greedy").allocation()
    for label, t in [("full network fee", tariff), ("local fee / 3", local)]:
        bills = bill_components(t, community.index, community.tz, alloc.grid_import, alloc.grid_export,
                                local_exchange=alloc.bought, ids=community.ids)
        totals = bills[columns].sum()
        print(f"{market:8s} {label:16s} community grid-side bills {totals['total']:8.2f} {t.currency}: "
              + ", ".join(f"{k} {v:.2f}" for k, v in totals.items() if k != "total"))
