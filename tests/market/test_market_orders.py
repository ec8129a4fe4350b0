"""OrderBook construction and validation, CSV reading with line-numbered errors, Trades frames."""

import numpy as np
import pandas as pd
import pytest

from peergrid import DataError
from peergrid.io import read_orders
from peergrid.market.auction import uniform_price
from peergrid.market.orders import BUY, SELL, OrderBook, Trades

HEADER = "id,participant,side,quantity_kwh,price"


def write(tmp_path, text, name="orders.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_from_arrays_sides_and_labels():
    b = OrderBook.from_arrays(
        participant=["x", "y", "x"], side=["Buy", "sell", "BUY"], quantity=[1, 2, 3], price=[1, 2, 3]
    )
    assert b.side.tolist() == [BUY, SELL, BUY]
    assert b.participant.tolist() == [0, 1, 0] and b.labels.tolist() == ["x", "y"]
    assert b.slot.tolist() == [0, 0, 0] and b.id.tolist() == [0, 1, 2]
    assert b.participant_label(b.participant).tolist() == ["x", "y", "x"]
    b = OrderBook.from_arrays(participant=[3, 1], side=[True, False], quantity=[1, 1], price=[0.1, 0.2], slot=4)
    assert b.labels is None and b.n_participants == 4 and b.side.tolist() == [1, -1] and b.slot.tolist() == [4, 4]
    big = OrderBook.from_arrays(participant=[10**12, 7], side=[1, -1], quantity=[1, 1], price=[0, 0])
    assert big.participant.tolist() == [0, 1] and big.labels.tolist() == [10**12, 7]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quantity": [1, 0]}, "order 1 .*quantity must be a finite number > 0"),
        ({"quantity": [1, np.nan]}, "order 1 .*quantity"),
        ({"price": [np.inf, 1]}, "order 0 .*price must be finite"),
        ({"side": ["buy", "hold"]}, "order 1: side must be 'buy' or 'sell'"),
        ({"side": [1, 0]}, r"order 1: side must be \+1"),
        ({"id": ["a", "a"]}, "order 1: duplicate id 'a'"),
        ({"slot": [0.5, 1]}, "slot must be an integer"),
        ({"reputation": [0.5, 1.5]}, r"reputation must be in \[0, 1\]"),
        ({"price": [1.0]}, "one entry per order"),
    ],
)
def test_from_arrays_errors(kwargs, match):
    args = {"participant": [0, 1], "side": ["buy", "sell"], "quantity": [1, 1], "price": [0.2, 0.1]} | kwargs
    with pytest.raises(DataError, match=match):
        OrderBook.from_arrays(**args)


def test_participant_values():
    b = OrderBook.from_arrays(participant=["a", "b", "a"], side=[1, -1, 1], quantity=[1, 1, 1], price=[1, 1, 1])
    np.testing.assert_array_equal(b.participant_values({"a": 1.0, "b": 2.0}, "x"), [1, 2, 1])
    np.testing.assert_array_equal(b.participant_values([5.0, 6.0], "x"), [5, 6, 5])
    np.testing.assert_array_equal(b.participant_values(3.0, "x"), [3, 3, 3])
    np.testing.assert_array_equal(b.participant_values({"a": 1.0}, "x", default=0.0), [1, 0, 1])
    with pytest.raises(DataError, match="no score for participant 'b'"):
        b.participant_values({"a": 1.0}, "score")


def test_read_orders_roundtrip(tmp_path):
    p = write(tmp_path, f"{HEADER},slot\n1,alice,buy,2,0.30,0\n2,bob,sell,1.5,0.1,1\n\n3,carol,SELL,3,0.25,0\n")
    b = read_orders(p)
    assert b.id.tolist() == [1, 2, 3] and b.slot.tolist() == [0, 1, 0]
    assert b.participant_label(b.participant).tolist() == ["alice", "bob", "carol"]
    df = b.to_frame()
    assert list(df.columns) == ["id", "participant", "side", "quantity_kwh", "price", "slot"]
    b2 = OrderBook.from_frame(df)
    np.testing.assert_array_equal(b2.price, b.price)
    assert b2.side.tolist() == b.side.tolist()


def test_read_orders_column_order_ids_and_reputation(tmp_path):
    p = write(tmp_path, "price,side,participant,id,quantity_kwh,reputation\n0.2,buy,7,o-1,1,0.9\n0.1,sell,8,o-2,1,1\n")
    b = read_orders(p)
    assert b.id.tolist() == ["o-1", "o-2"] and b.participant.tolist() == [7, 8] and b.labels is None
    np.testing.assert_allclose(b.reputation, [0.9, 1.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "orders.csv: empty file"),
        (f"{HEADER}\n", "orders.csv: no orders"),
        ("id,participant,side,quantity_kwh\n1,a,buy,1\n", "orders.csv line 1: header lacks column(s) price"),
        (f"{HEADER},qty\n1,a,buy,1,0.2,3\n", "orders.csv line 1: unknown column(s) qty"),
        (f"{HEADER}\n1,a,buy,1,0.2\n2,b,sell,1\n", "orders.csv line 3: expected 5 fields, got 4"),
        (f"{HEADER}\n1,a,buy,1,0.2\n\n2,b,sale,1,0.1\n", "orders.csv line 4: side must be 'buy' or 'sell', got 'sale'"),
        (f"{HEADER}\n1,a,buy,one,0.2\n", "orders.csv line 2: quantity_kwh 'one' is not a number"),
        (f"{HEADER}\n1,a,buy,0,0.2\n", "orders.csv line 2: quantity_kwh must be a finite number > 0, got '0'"),
        (f"{HEADER}\n1,a,buy,1,\n", "orders.csv line 2: price '' is not a number"),
        (f"{HEADER}\n1,a,buy,1,inf\n", "orders.csv line 2: price must be finite, got 'inf'"),
        (f"{HEADER},slot\n1,a,buy,1,0.2,x\n", "orders.csv line 2: slot 'x' is not a number"),
        (f"{HEADER},slot\n1,a,buy,1,0.2,1.5\n", "orders.csv line 2: slot must be an integer, got '1.5'"),
        (f"{HEADER}\n1,a,buy,1,0.2\n1,b,sell,1,0.1\n", "orders.csv line 3: duplicate id '1'"),
        (f"{HEADER}\n,a,buy,1,0.2\n", "orders.csv line 2: empty id"),
        (f"{HEADER}\n1,,buy,1,0.2\n", "orders.csv line 2: empty participant"),
        (f'{HEADER}\n1,a,buy,1,0.2\n2,"b\n', "orders.csv line 3"),
    ],
)
def test_read_orders_errors(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(DataError) as exc:
        read_orders(p)
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_read_orders_binary(tmp_path):
    p = tmp_path / "orders.csv"
    p.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(DataError, match="not UTF-8"):
        read_orders(p)


def test_trades_frame_and_concat():
    b = OrderBook.from_arrays(
        participant=["a", "b"], side=["buy", "sell"], quantity=[1, 1], price=[0.3, 0.1], id=[10, 20]
    )
    t = uniform_price(b).trades
    df = t.to_frame(b)
    assert df.iloc[0][["buy_id", "sell_id", "buyer", "seller"]].tolist() == [10, 20, "a", "b"]
    assert df.fee.tolist() == [0.0]
    both = Trades.concat([t, t])
    assert len(both) == 2 and len(Trades.concat([])) == 0
    assert isinstance(t.to_frame(), pd.DataFrame)


def test_from_net():
    net = np.array([[2.0, -1.0, 0.0], [0.0, 0.5, -3.0]])
    b = OrderBook.from_net(net, bid_price=np.array([[0.3], [0.25]]), ask_price=0.1)
    assert b.slot.tolist() == [0, 0, 1, 1] and b.participant.tolist() == [0, 1, 1, 2]
    assert b.side.tolist() == [1, -1, 1, -1] and b.id.tolist() == [0, 1, 4, 5]
    np.testing.assert_allclose(b.quantity, [2.0, 1.0, 0.5, 3.0])
    np.testing.assert_allclose(b.price, [0.3, 0.1, 0.25, 0.1])
    r = uniform_price(b, retail=0.3, feed_in=0.1)
    np.testing.assert_allclose(r.traded, [1.0, 0.5])
    with pytest.raises(DataError, match="broadcast"):
        OrderBook.from_net(net, bid_price=[0.1, 0.2], ask_price=0.1)
    with pytest.raises(DataError, match=r"\(T, N\)"):
        OrderBook.from_net([1.0, 2.0], 0.3, 0.1)


def test_order_files_are_read_at_the_io_edge_not_in_market():
    """market is I/O-free: the order CSV reader is peergrid.io.read_orders (it builds a market.OrderBook)."""
    import ast
    import inspect

    import peergrid.io
    import peergrid.market
    import peergrid.market.orders as orders

    assert peergrid.io.read_orders is read_orders and not hasattr(peergrid.market, "read_orders")
    imported = {a.name for n in ast.walk(ast.parse(inspect.getsource(orders))) if isinstance(n, ast.Import)
                for a in n.names}
    assert "csv" not in imported and "open(" not in inspect.getsource(orders)
