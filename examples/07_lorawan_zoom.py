"""LoRaWAN cluster zooming: zoom levels that change the radio; trades priced by distance (Anoh et al.).

Two hundred smart meters around four gateways. Each gateway's zoom level is the largest
spreading factor (SF) the network server's adaptive data rate (ADR) may give its meters:
zooming in squeezes meters onto lower SFs (shorter airtime, thinner link margin), hands
over the ones it no longer covers, and so moves the virtual microgrids (VMGs). Uplinks
are simulated packet by packet (collisions, capture, retransmissions) and measured. The
same houses hang on LV feeders: the coordinator prices trades between VMGs by electrical
distance (losses on the feeder path) plus radio cost (messages per delivered reading).
"""

import numpy as np

from peergrid.data import synthetic_community
from peergrid.zoom import (
    costed_trade,
    join_config,
    link_budget,
    measured_network_cost,
    neighbourhood,
    radio_terms,
    simulate_uplinks,
    trade_delivered,
    vmg_plan,
    zoom_step,
)

community = synthetic_community(200, start="2022-08-01 08:00", periods=96, freq="15min", seed=0)
net = community.load - community.generation  # (T, N) kWh, + = import

houses = neighbourhood(200, 4, gateway_spacing_m=400.0, seed=0)  # meters on LV feeders under 4 gateways
budget = link_budget(houses.deployment, seed=0)
cfg = join_config(budget)  # SF12, 14 dBm
log = simulate_uplinks(budget, cfg, steps=96, seed=1)  # a day of measured uplinks
for zoom in (12, 12, 9):  # two ADR rounds at zoom 12, then every gateway zooms in to SF9
    cfg = zoom_step(budget, log, cfg, zoom)
    log = simulate_uplinks(budget, cfg, steps=96, seed=zoom)
    s = log.summary()
    print(
        f"zoom {zoom}: SF7..12 = {np.bincount(cfg.sf, minlength=13)[7:].tolist()}, in zoom "
        f"{cfg.in_zoom.mean():.0%}, PDR {s['pdr']:.3f}, device energy {s['device_energy_j']:.0f} J/day"
    )

plan = vmg_plan(budget, cfg)  # VMGs follow the radio
print("members per VMG (4 gateways, wide, offline):", plan.sizes().tolist())
res = trade_delivered(net, plan, log.delivered, community.retail, community.feed_in)
assert np.allclose(res.bill.sum(axis=1), res.grid_bill)  # money is conserved in every step
cost = measured_network_cost(log, plan)
print(f"OPEX {cost.opex:.2f} USD/day, gateway power {cost.gateway_power_w.sum():.2f} W")

n_tx, airtime = radio_terms(budget, cfg, log)
for rule in ("pool", "combined"):
    ct = costed_trade(net, plan, houses, n_tx, airtime, community.retail, community.feed_in, rule=rule)
    print(rule, {k: round(v, 3) for k, v in ct.summary().items() if isinstance(v, float)})
