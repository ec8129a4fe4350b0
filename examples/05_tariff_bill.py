"""Members' bills under a real tariff, with a reduced network charge on shared energy.

The shipped German household tariff (`de-household`: energy, network charge, electricity
tax, 19 % VAT, standing charge, feed-in tariff; prices net of VAT) is applied to the
CityLearn homes for 30 days. A second version of it charges only a third of the network
fee on energy bought from peers, as some European energy-community schemes do.
`Result.bills()` splits each member's bill into its components, including `p2p`, the net
payment to peers at the market's internal prices.
"""

import peergrid
from peergrid.data import citylearn_community
from peergrid.market import apply_tariff, shipped_tariff

tariff = shipped_tariff("de-household")
reduced = tariff.with_(local_network=tariff.network.price / 3, name="de-household, local fee / 3")
print(f"{tariff.name}: {tariff.description}")

columns = ["energy", "network", "local_network", "standing", "tax", "vat", "feed_in_credit", "p2p", "total"]
for t in [tariff, reduced]:
    community = apply_tariff(citylearn_community(periods=24 * 30), t)
    print(f"\n{t.name}: retail λb {community.retail[0]:.4f}, feed-in λs {community.feed_in[0]:.4f} {t.currency}/kWh")
    for market in ["baseline", "sdr"]:
        bills = peergrid.simulate(community, market=market, control="greedy").bills()
        print(f"  {market:8s} Σ members " + ", ".join(f"{c} {round(bills[c].sum(), 2) + 0.0:.2f}" for c in columns))
    print("  SDR bill of the first three members:")
    print(bills[["local_kwh", "energy", "local_network", "p2p", "total"]].head(3).round(2).to_string())
