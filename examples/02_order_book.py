"""Clear an order book three ways: uniform price, pay-as-bid and McAfee.

Four peers submit limit orders for two slots. The uniform-price auction settles every
trade of a slot at one price between the marginal bid and ask; pay-as-bid settles every
order at its own limit (the spread stays with the operator); McAfee's trade reduction
gives up at most the marginal trade to make truthful bidding a dominant strategy.
"""

from peergrid.market import OrderBook, mcafee, pay_as_bid, uniform_price

book = OrderBook.from_arrays(
    participant=["alice", "bob", "carol", "dave", "alice", "carol"],
    side=["buy", "buy", "sell", "sell", "buy", "sell"],
    quantity=[2.0, 1.0, 1.5, 3.0, 1.0, 2.0],  # kWh
    price=[0.30, 0.20, 0.10, 0.25, 0.28, 0.12],  # currency per kWh
    slot=[0, 0, 0, 0, 1, 1],
)

# retail (grid import) and feed-in prices settle what the peers could not match
r = uniform_price(book, k=0.5, retail=0.35, feed_in=0.05)
print("uniform price: traded", r.traded.tolist(), "kWh at", r.clearing_price.tolist())
print(r.trades.to_frame(book)[["slot", "buyer", "seller", "quantity_kwh", "price_buy", "price_sell"]])
print("unmatched kWh per order:", r.residual.tolist())

r = pay_as_bid(book)
print("pay-as-bid: operator keeps", round(float(r.fees.sum()), 3))

units = OrderBook.from_arrays(
    participant=range(8),
    side=["buy"] * 4 + ["sell"] * 4,
    quantity=[1.0] * 8,
    price=[0.40, 0.32, 0.24, 0.16, 0.04, 0.12, 0.20, 0.28],
)
r = mcafee(units)
print("McAfee:", r.traded.tolist(), "kWh at", r.clearing_price.round(4).tolist())
