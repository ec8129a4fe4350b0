"""Read a feeder from pandapower JSON safely: the file is hostile input.

pandapower's own ``from_json`` is *not* safe on untrusted files: every JSON object with
``"_module"`` and ``"_class"`` keys makes it ``importlib.import_module(_module)`` and
call ``getattr(module, _class)`` on the result (``{"_module": "os", "_class": "system",
"_object": "..."}``), the ``_object`` of a DataFrame may be a path that it opens, extra
keys of a DataFrame become keyword arguments of ``pandas.read_json``, and JSON objects
inside table cells are deserialised again. :func:`read_feeder` therefore never hands
the user's text to pandapower. It

1. refuses files larger than ``max_bytes`` (default :data:`MAX_FEEDER_BYTES`, 20 MB)
   before reading them whole, and parses the text with the standard :mod:`json` module
   (no object hooks);
2. walks the document and accepts only a ``pandapowerNet`` (module
   ``pandapower.auxiliary``) whose entries are the plain tables of an empty pandapower
   net (``bus``, ``line``, ``trafo``, ``ext_grid``, ``load``, ``sgen``, ``switch``, …, the
   ``res_*`` result tables and ``peergrid_participants``), each a pandas ``DataFrame``
   (module ``pandas`` or ``pandas.core.frame``) in ``"split"`` orientation whose cells are
   JSON scalars, with column dtypes from a short whitelist; ``std_types`` as plain nested
   dicts of scalars; and the scalar fields (``name``, ``f_hz``, ``sn_mva``, ``version``, …).
   Anything else — another module or class anywhere, an unknown table, an unknown
   DataFrame option, a nested object in a cell, a non-empty ``controller`` or ``group``
   table (they hold serialised Python objects) — is a one-line :class:`DataError`
   naming the problem. Geodata are dropped (``geo`` cells set to null);
3. re-serialises the vetted content into a canonical string that contains no other
   object kinds than the two above, and only then lets pandapower read *that* string;
4. checks the result: an in-service ``ext_grid``, positive bus voltages, line and
   transformer ends and element buses that exist, finite line data, a radial feeder
   (``radial=True``), and a consistent ``peergrid_participants`` table if the file has one;
5. places members on buses and phases with ``mapping`` exactly as
   :func:`~peergrid.grid.feeder_from_net` does.

Example::

    from peergrid.grid import read_feeder
    net = read_feeder("feeder.json", {"alice": 3, "bob": 7})
    net = read_feeder(uploaded_bytes, pd.DataFrame({"id": ["a"], "bus": [3], "phase": ["b"]}))
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError, ModelError, PeergridError
from peergrid.grid._pp import PARTICIPANTS_KEY, pandapower

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

    from peergrid.core.community import Community

#: Largest feeder file :func:`read_feeder` accepts, bytes (20 MB ≈ 40,000 buses with lines and loads).
MAX_FEEDER_BYTES = 20 * 1024 * 1024
#: Most buses a feeder may have.
MAX_BUSES = 100_000

_NET_KIND = ("pandapower.auxiliary", "pandapowerNet")
_FRAME_MODULES = frozenset({"pandas", "pandas.core.frame"})
_FRAME_KEYS = frozenset(
    {"_module", "_class", "_object", "orient", "dtype", "is_multiindex", "is_multicolumn", "index_name", "column_name"}
)
_DTYPES = frozenset(
    {
        "float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8",
        "bool", "object", "Int64", "Int32", "Int16", "Int8", "UInt32", "UInt64", "boolean", "str", "string",
    }
)  # fmt: skip
_SCALAR_FIELDS = frozenset({"version", "format_version", "converged", "OPF_converged", "name", "f_hz", "sn_mva"})
#: Tables that hold serialised Python objects in pandapower: accepted only empty.
_OBJECT_TABLES = frozenset({"controller", "group"})
#: Older pandapower geodata tables: accepted and dropped.
_DROPPED_TABLES = frozenset({"bus_geodata", "line_geodata"})
_VERSION = re.compile(r"^\d+(\.\d+){0,3}$")
_MAX_STR = 10_000
_Scalar = str | int | float | bool | None


def read_feeder(
    source: str | Path | bytes,
    mapping: pd.DataFrame | Mapping[str, int] | Community | None = None,
    *,
    max_bytes: int = MAX_FEEDER_BYTES,
    radial: bool = True,
) -> pandapowerNet:
    """Read a pandapower JSON feeder from an untrusted source (see the module docstring).

    Parameters
    ----------
    source : str, Path or bytes
        A file path, or the JSON text itself (``bytes``, or a ``str`` starting with ``{``).
    mapping : DataFrame, mapping of id to bus, or Community, optional
        Members on buses and phases, as in :func:`~peergrid.grid.feeder_from_net`
        (columns ``id``, ``bus`` and optionally ``phase``; default phase ``"a"``). Without
        it the net keeps the ``peergrid_participants`` table of the file, if any.
    max_bytes : int
        Size limit of the JSON text, bytes.
    radial : bool
        Require a radial feeder (every network-aware function of peergrid needs one).

    Returns
    -------
    pandapowerNet

    Raises
    ------
    DataError
        One line naming the problem: too large, not JSON, a forbidden object kind, an
        unknown table, a table of the wrong shape, an inconsistent or meshed net, or a
        member mapped to a bus the net does not have.
    """
    name, text = _read_text(source, max_bytes)
    try:
        doc = json.loads(text)
    except RecursionError:
        raise DataError(f"{name}: JSON nested too deeply") from None
    except ValueError as exc:
        raise DataError(f"{name}: not valid JSON ({exc})") from None
    canonical = _vet(doc, name)
    pp = pandapower()
    try:
        net = pp.from_json_string(json.dumps(canonical, allow_nan=True), convert=True)
    except Exception as exc:  # vetted content; any failure left is a bad value pandapower rejects
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name}: pandapower cannot read the feeder: {msg[:200]}") from None
    _check_net(net, name, radial)
    if mapping is not None:
        from peergrid.grid.feeder import feeder_from_net

        try:
            net = feeder_from_net(net, mapping)
        except ModelError as exc:
            raise DataError(f"{name}: {exc}") from None
    return net


# ---- reading and vetting ------------------------------------------------------------------------


def _read_text(source: str | Path | bytes, max_bytes: int) -> tuple[str, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        raw = bytes(source)
        name = "feeder JSON"
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        raw = source.encode("utf-8", errors="surrogatepass")
        name = "feeder JSON"
    elif isinstance(source, str | Path):
        path = Path(source)
        name = path.name
        try:
            if not path.is_file():
                raise DataError(f"{path}: no such feeder file")
            size = path.stat().st_size
            if size > max_bytes:
                raise DataError(f"{name}: feeder file is {size:,} bytes, more than the limit of {max_bytes:,}")
            with path.open("rb") as fh:
                raw = fh.read(max_bytes + 1)
        except OSError as exc:
            raise DataError(f"{path}: cannot read the feeder file ({exc.strerror or exc})") from None
    else:
        raise DataError(f"read_feeder: source must be a path, a JSON string or bytes, got {type(source).__name__}")
    if len(raw) > max_bytes:
        raise DataError(f"{name}: feeder JSON is more than the limit of {max_bytes:,} bytes")
    try:
        return name, raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text (byte {exc.start})") from None


def _kind(obj: dict[str, Any], where: str) -> tuple[str, str]:
    module, cls = obj.get("_module"), obj.get("_class")
    if not isinstance(module, str) or not isinstance(cls, str):
        raise DataError(f"{where}: '_module' and '_class' must be strings")
    return module, cls


def _forbid_objects(value: Any, where: str, depth: int = 0) -> None:
    """Refuse any dict carrying ``_module``/``_class`` (pandapower would import and instantiate it)."""
    if depth > 8:
        raise DataError(f"{where}: nested too deeply")
    if isinstance(value, dict):
        if "_module" in value or "_class" in value:
            module, cls = value.get("_module"), value.get("_class")
            raise DataError(f"{where}: object {module!s}.{cls!s} is not allowed in a feeder (only plain tables)")
        for k, v in value.items():
            _forbid_objects(v, f"{where}.{k}", depth + 1)
    elif isinstance(value, list):
        for v in value:
            _forbid_objects(v, where, depth + 1)


def _scalar(value: Any, where: str) -> _Scalar:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        if len(value) > _MAX_STR:
            raise DataError(f"{where}: string longer than {_MAX_STR:,} characters")
        if "_module" in value or "_class" in value:
            raise DataError(f"{where}: text naming '_module'/'_class' is not allowed in a feeder")
        return value
    _forbid_objects(value, where)
    raise DataError(f"{where}: expected a number, text, true/false or null, got a JSON {_json_type(value)}")


def _json_type(value: Any) -> str:
    names: dict[type, str] = {dict: "object", list: "array"}
    return names.get(type(value), type(value).__name__)


def _vet(doc: Any, name: str) -> dict[str, Any]:
    """The canonical pandapowerNet document of ``doc`` (see the module docstring, step 2)."""
    if not isinstance(doc, dict):
        raise DataError(f"{name}: expected a pandapower net (a JSON object), got a JSON {_json_type(doc)}")
    if "_module" not in doc and "_class" not in doc:
        raise DataError(f"{name}: not a pandapower JSON net (no pandapowerNet object; save it with pandapower.to_json)")
    if _kind(doc, name) != _NET_KIND:
        module, cls = _kind(doc, name)
        raise DataError(f"{name}: object {module}.{cls} is not allowed (expected pandapower.auxiliary.pandapowerNet)")
    extra = set(doc) - {"_module", "_class", "_object"}
    if extra:
        raise DataError(f"{name}: unexpected key {sorted(extra)[0]!r} next to the pandapowerNet object")
    body = doc.get("_object")
    if not isinstance(body, dict):
        raise DataError(f"{name}: the pandapowerNet object must hold a JSON object of tables")

    template = pandapower().create_empty_network()
    frames = {k for k, v in template.items() if isinstance(v, pd.DataFrame)} | {PARTICIPANTS_KEY}
    out: dict[str, Any] = {}
    for key, value in body.items():
        where = f"{name}: {key!r}"
        if not isinstance(key, str):  # pragma: no cover - JSON keys are always strings
            raise DataError(f"{where}: table names must be text")
        if key in frames:
            out[key] = _vet_frame(value, key, where)
        elif key in _DROPPED_TABLES:
            _vet_frame(value, key, where)
        elif key == "std_types":
            out[key] = _vet_std_types(value, where)
        elif key == "user_pf_options":
            if not isinstance(value, dict):
                raise DataError(f"{where}: expected a JSON object")
            _forbid_objects(value, where)  # options are not carried over: peergrid sets its own
        elif key in _SCALAR_FIELDS:
            out[key] = _scalar(value, where)
        else:
            _forbid_objects(value, where)
            raise DataError(f"{where}: unknown table (a feeder may hold only pandapower's plain tables)")
    if "bus" not in out:
        raise DataError(f"{name}: the net has no 'bus' table")
    version = out.get("version")
    if version is not None and not (isinstance(version, str) and _VERSION.match(version)):
        raise DataError(f"{name}: 'version' must look like 3.1.0, got {version!r}")
    if "format_version" in out and not (
        isinstance(out["format_version"], str) and _VERSION.match(out["format_version"])
    ):
        raise DataError(f"{name}: 'format_version' must look like 3.1.0, got {out['format_version']!r}")
    for key in ("f_hz", "sn_mva"):
        v = out.get(key)
        if v is not None and not (
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        ):
            raise DataError(f"{name}: {key!r} must be a positive number, got {v!r}")
    return {"_module": _NET_KIND[0], "_class": _NET_KIND[1], "_object": out}


def _vet_frame(value: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected a pandas DataFrame object, got a JSON {_json_type(value)}")
    if "_module" not in value or "_class" not in value:
        _forbid_objects(value, where)
        raise DataError(f"{where}: expected a pandas DataFrame object ('_module', '_class', '_object')")
    module, cls = _kind(value, where)
    if module not in _FRAME_MODULES or cls != "DataFrame":
        raise DataError(f"{where}: object {module}.{cls} is not allowed (only pandas DataFrames)")
    extra = set(value) - _FRAME_KEYS
    if extra:
        raise DataError(f"{where}: unknown DataFrame option {sorted(extra)[0]!r}")
    if value.get("orient", "split") != "split":
        raise DataError(f"{where}: only orient 'split' is supported, got {value.get('orient')!r}")
    if value.get("is_multiindex", False) is not False or value.get("is_multicolumn", False) is not False:
        raise DataError(f"{where}: multi-indexed tables are not supported")
    for opt in ("index_name", "column_name"):
        if value.get(opt) is not None and not isinstance(value.get(opt), str):
            raise DataError(f"{where}: {opt} must be text or null")
    inner = value.get("_object")
    if not isinstance(inner, str):
        raise DataError(f"{where}: the DataFrame '_object' must be a JSON text in 'split' orientation")
    try:
        table = json.loads(inner)
    except RecursionError:
        raise DataError(f"{where}: table JSON nested too deeply") from None
    except ValueError as exc:
        raise DataError(f"{where}: the table is not valid JSON ({exc})") from None
    if not isinstance(table, dict) or set(table) - {"columns", "index", "data"}:
        raise DataError(f"{where}: the table must be a JSON object with columns, index and data")
    columns, index, data = table.get("columns", []), table.get("index", []), table.get("data", [])
    if not (isinstance(columns, list) and isinstance(index, list) and isinstance(data, list)):
        raise DataError(f"{where}: columns, index and data must be JSON arrays")
    if not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
        _forbid_objects(columns, where)
        raise DataError(f"{where}: column names must be distinct texts")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in index) or len(set(index)) != len(index):
        _forbid_objects(index, where)
        raise DataError(f"{where}: the index must be distinct integers")
    if len(data) != len(index):
        raise DataError(f"{where}: {len(index)} index entries but {len(data)} rows")
    if key in _OBJECT_TABLES and data:
        raise DataError(f"{where}: a feeder may not carry {key} entries (they hold Python objects)")
    n_cols = len(columns)
    geo = columns.index("geo") if "geo" in columns else -1
    rows = []
    for r, row in enumerate(data):
        if not isinstance(row, list) or len(row) != n_cols:
            _forbid_objects(row, where)
            raise DataError(f"{where}: row {r} must be an array of {n_cols} values")
        clean = [_scalar(v, f"{where} row {r} column {columns[c]!r}") for c, v in enumerate(row)]
        if geo >= 0:
            clean[geo] = None
        rows.append(clean)
    dtype = value.get("dtype")
    if dtype is not None:
        if not isinstance(dtype, dict):
            raise DataError(f"{where}: dtype must be a JSON object of column: type")
        for col, dt in dtype.items():
            if col not in columns:
                raise DataError(f"{where}: dtype names column {col!r}, which the table does not have")
            if not isinstance(dt, str) or dt not in _DTYPES:
                _forbid_objects(dt, where)
                raise DataError(f"{where}: column {col!r} has type {dt!r}; allowed: {', '.join(sorted(_DTYPES))}")
    out: dict[str, Any] = {
        "_module": "pandas.core.frame",
        "_class": "DataFrame",
        "_object": json.dumps({"columns": columns, "index": index, "data": rows}, allow_nan=True),
        "orient": "split",
        "is_multiindex": False,
        "is_multicolumn": False,
    }
    if dtype is not None:
        out["dtype"] = dict(dtype)
    for opt in ("index_name", "column_name"):
        if value.get(opt) is not None:
            out[opt] = value[opt]
    return out


def _vet_std_types(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError(f"{where}: expected a JSON object of element: {{type name: {{parameter: value}}}}")
    out: dict[str, dict[Any, Any]] = {}
    for element, types in value.items():
        if element not in ("line", "line_dc", "trafo", "trafo3w", "fuse"):
            _forbid_objects(types, where)
            raise DataError(f"{where}: unknown standard-type element {element!r}")
        if not isinstance(types, dict):
            _forbid_objects(types, where)
            raise DataError(f"{where}.{element}: expected a JSON object of type name: parameters")
        out[element] = {}
        for type_name, params in types.items():
            if not isinstance(params, dict):
                _forbid_objects(params, where)
                raise DataError(f"{where}.{element}.{type_name}: expected a JSON object of parameters")
            if "_module" in params or "_class" in params:
                _forbid_objects(params, f"{where}.{element}.{type_name}")
            out[element][_scalar(type_name, where)] = {
                p: _param(v, f"{where}.{element}.{type_name}.{p}") for p, v in params.items()
            }
    return out


def _param(value: Any, where: str) -> _Scalar | list[_Scalar]:
    """A standard-type parameter: a scalar or a flat array of scalars (fuse curves)."""
    if isinstance(value, list):
        return [_scalar(v, where) for v in value]
    return _scalar(value, where)


# ---- checking the net ---------------------------------------------------------------------------


def _check_net(net: pandapowerNet, name: str, radial: bool) -> None:
    """Consistency checks of a net read from a vetted string (see the module docstring, step 4)."""
    bus = net.bus
    if len(bus) == 0:
        raise DataError(f"{name}: the net has no buses")
    if len(bus) > MAX_BUSES:
        raise DataError(f"{name}: {len(bus):,} buses, more than the limit of {MAX_BUSES:,}")
    vn = pd.to_numeric(bus["vn_kv"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(vn) & (vn > 0)):
        raise DataError(f"{name}: bus {bus.index[int(np.argmin(np.isfinite(vn) & (vn > 0)))]}: vn_kv must be > 0")
    known = bus.index.to_numpy()
    refs = [
        ("ext_grid", "bus"), ("line", "from_bus"), ("line", "to_bus"), ("trafo", "hv_bus"), ("trafo", "lv_bus"),
        ("load", "bus"), ("sgen", "bus"), ("switch", "bus"), ("asymmetric_load", "bus"), ("asymmetric_sgen", "bus"),
        ("storage", "bus"), ("shunt", "bus"), ("gen", "bus"),
    ]  # fmt: skip
    for table, col in refs:
        frame = net.get(table)
        if not isinstance(frame, pd.DataFrame) or not len(frame):
            continue
        if col not in frame:
            raise DataError(f"{name}: table {table!r} lacks column {col!r}")
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isin(values, known)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{name}: {table} {frame.index[i]} refers to bus {_show(frame[col].iloc[i])}, which does not exist"
            )
    eg = net.ext_grid
    if not len(eg) or not eg["in_service"].astype(bool).any():
        raise DataError(f"{name}: the net has no in-service ext_grid (slack)")
    if len(net.line):
        for col, positive in (
            ("length_km", True),
            ("r_ohm_per_km", False),
            ("x_ohm_per_km", False),
            ("max_i_ka", True),
        ):
            if col not in net.line:
                raise DataError(f"{name}: table 'line' lacks column {col!r}")
            v = pd.to_numeric(net.line[col], errors="coerce").to_numpy(dtype=np.float64)
            ok = np.isfinite(v) & ((v > 0) if positive else (v >= 0))
            if not ok.all():
                i = int(np.argmin(ok))
                raise DataError(f"{name}: line {net.line.index[i]}: {col} must be {'> 0' if positive else '>= 0'}")
    for table in ("load", "sgen"):
        frame = net[table]
        for col in ("p_mw", "q_mvar"):
            if len(frame) and col in frame:
                v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
                if not np.all(np.isfinite(v)):
                    raise DataError(
                        f"{name}: {table} {frame.index[int(np.argmin(np.isfinite(v)))]}: {col} is not finite"
                    )
    if radial:
        from peergrid.grid.paths import radial_tree

        try:
            radial_tree(net)
        except PeergridError as exc:
            raise DataError(f"{name}: {str(exc).removeprefix('radial_tree: ')}") from None
    parts = net.get(PARTICIPANTS_KEY)
    if isinstance(parts, pd.DataFrame) and len(parts):
        _check_participants(net, parts, name)


def _show(value: Any) -> str:
    """A table value for a message: ``42`` rather than ``np.uint32(42)``."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_participants(net: pandapowerNet, parts: pd.DataFrame, name: str) -> None:
    from peergrid.grid.feeder import PHASES

    missing = {"id", "bus", "phase", "load"} - set(parts.columns)
    if missing:
        raise DataError(f"{name}: table {PARTICIPANTS_KEY!r} lacks column(s) {sorted(missing)}")
    ids = parts["id"].astype(str)
    if ids.duplicated().any():
        raise DataError(f"{name}: {PARTICIPANTS_KEY}: member {ids[ids.duplicated()].iloc[0]!r} listed twice")
    buses = pd.to_numeric(parts["bus"], errors="coerce").to_numpy(dtype=np.float64)
    loads = pd.to_numeric(parts["load"], errors="coerce").to_numpy(dtype=np.float64)
    for i in range(len(parts)):
        who = ids.iloc[i]
        if buses[i] not in net.bus.index:
            raise DataError(
                f"{name}: member {who!r} is on bus {_show(parts['bus'].iloc[i])}, which the net does not have"
            )
        if loads[i] not in net.load.index or float(net.load.at[int(loads[i]), "bus"]) != buses[i]:
            raise DataError(f"{name}: member {who!r}: load {parts['load'].iloc[i]!r} is not a load on its bus")
        if str(parts["phase"].iloc[i]).strip().lower() not in PHASES:
            raise DataError(f"{name}: member {who!r} has phase {parts['phase'].iloc[i]!r}; expected one of {PHASES}")
    parts["bus"] = buses.astype(np.int64)
    parts["load"] = loads.astype(np.int64)
    parts["id"] = ids.to_numpy(dtype=object)
