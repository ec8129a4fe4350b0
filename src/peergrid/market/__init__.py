"""Market mechanisms: pure functions on arrays (one implementation of every rule)."""

from peergrid.market.sharing import (
    MECHANISM_NAMES,
    MECHANISMS,
    Allocation,
    Clearing,
    bill_sharing,
    clear,
    demand_supply,
    get_mechanism,
    mid_market_price,
    mid_market_rate,
    no_p2p,
    sdr_prices,
    sdr_ratio,
    supply_demand_ratio,
)

__all__ = [
    "MECHANISMS",
    "MECHANISM_NAMES",
    "Allocation",
    "Clearing",
    "bill_sharing",
    "clear",
    "demand_supply",
    "get_mechanism",
    "mid_market_price",
    "mid_market_rate",
    "no_p2p",
    "sdr_prices",
    "sdr_ratio",
    "supply_demand_ratio",
]
