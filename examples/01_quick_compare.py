"""Compare P2P markets on the measured CityLearn community.

The 17 measured homes of the CityLearn 2022 data set, first 30 days, greedy battery
control: the no-P2P baseline against bill sharing (BS), mid-market rate (MMR) and
supply-demand ratio (SDR) pricing. Every pool market settles the same community grid
bill; they differ in how the benefit is split between buyers and sellers.
"""

import peergrid
from peergrid.data import citylearn_community

community = citylearn_community(periods=24 * 30)  # hourly, 30 days
print(community)

results = peergrid.compare(community, markets=["baseline", "bs", "mmr", "sdr"], control="greedy")
table = results.metrics()[["self_sufficiency", "community_cost", "cost_reduction", "pm", "jain_fairness"]]
print(table.round(3).to_string())

# per-member savings against the baseline (currency over the 30 days)
savings = results.savings()
print(savings.describe().round(2).to_string())
