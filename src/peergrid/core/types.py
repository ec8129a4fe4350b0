"""Array types shared by every layer (``numpy.typing``), checked by ``mypy`` (docs/DESIGN.md, *Types*).

Inputs that accept lists, scalars or arrays are typed :data:`ArrayLike` and converted once at
the function's edge (``np.asarray(x, dtype=np.float64)``); arrays a function returns or keeps
carry their dtype: :data:`FloatArray` for energies (kWh), powers (kW), prices and money,
:data:`IntArray` for integer amounts (Wh, cents) and element ids, :data:`IndexArray` for
positions (``np.intp``), :data:`BoolArray` for masks, :data:`ComplexArray` for phasors.
Shapes are in the docstrings (``(T, N)`` = time x participant), not in the types.

Examples
--------
>>> import numpy as np
>>> from peergrid.core.types import FloatArray
>>> def double(x: FloatArray) -> FloatArray:
...     return 2.0 * x
>>> double(np.ones(2))
array([2., 2.])
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

#: anything ``np.asarray`` accepts: scalars, (nested) lists, arrays, pandas objects
ArrayLike: TypeAlias = npt.ArrayLike
#: float64 array: energy kWh, power kW, prices and money in the community's currency
FloatArray: TypeAlias = npt.NDArray[np.float64]
#: integer array (int64 in peergrid): integer amounts (Wh, minor currency units) and element ids;
#: any integer dtype type-checks (pandas' ``to_numpy(dtype=np.int64)`` is typed ``integer[Any]``)
IntArray: TypeAlias = npt.NDArray[np.integer[Any]]
#: positions into another array (``np.intp``: what ``argsort``/``searchsorted``/``nonzero`` return)
IndexArray: TypeAlias = npt.NDArray[np.intp]
#: complex128 array: phasors and admittances in per unit (grid sweeps)
ComplexArray: TypeAlias = npt.NDArray[np.complex128]
#: boolean mask
BoolArray: TypeAlias = npt.NDArray[np.bool_]
#: array of any dtype (object ids, strings, mixed): used where the dtype is the caller's
AnyArray: TypeAlias = npt.NDArray[Any]

__all__ = ["AnyArray", "ArrayLike", "BoolArray", "ComplexArray", "FloatArray", "IndexArray", "IntArray"]
