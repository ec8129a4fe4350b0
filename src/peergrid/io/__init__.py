"""The I/O edge of the library: files read into the objects of the pure layers (docs/DESIGN.md).

``market`` is I/O-free; what it consumes from files is read here, above it:
:func:`read_orders` (an order CSV → :class:`peergrid.market.OrderBook`). Meter exports and
datasets that build communities are read by :mod:`peergrid.data`.
"""

from peergrid.io.orders import read_orders

__all__ = ["read_orders"]
