"""Federation configuration: TOML (pydantic) or a PeerSim-style ``key value`` file.

A federation of energy clusters (Petri et al. 2020, section IV) is described by::

    name = "petri-base"
    nodes = 1000          # N, initial network size
    cycles = 200
    seed = 1

    [overlay]
    view = 10             # d, neighbours in each node's view (Petri et al.: d in {3, 5, 10, 20})
    rewiring = "newscast" # "none" | "newscast" | "triadic"
    period = 15           # c, rewiring period in cycles (Petri et al.: c in {1, 15, 30, 60})
    federation_links = 0.2

    [clusters]
    count = 50            # cluster managers
    scope = "view"        # a manager broadcasts to the requester's view ("view") or its cluster ("cluster")

    [energy]
    types = 5             # S energy types (Petri et al.: S_i in {1..5})
    capacity = [1.0, 10.0]  # kWh per node and cycle, renewed every cycle
    payoff = 1.0          # alpha per exchange, m.u. (Petri et al. eq. 2)

    [demand]
    request_probability = 0.25
    arrivals = "poisson"
    quantity = [1.0, 5.0] # kWh per request

    [[dynamics]]          # PeerSim peersim.dynamics.DynamicNetwork
    add = 10
    step = 1
    from = 0
    until = 500
    maxsize = 1000

    [migration]
    strategy = "strategic"  # "none" | "random" | "strategic" | "mixed"
    probability = 0.25
    period = 15
    fee = 1.0

The same model can be given as a PeerSim configuration (``key value`` or
``key = value`` lines, ``#`` comments), so users of the paper's tool can bring
their files; see :func:`parse_peersim`. Unknown keys and out-of-range values raise
:class:`~peergrid.ConfigError` naming the key and the file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from peergrid.core.errors import ConfigError
from peergrid.core.tomlconfig import read_toml, validate_model

__all__ = [
    "DEFAULT_PRICES",
    "ClusterConfig",
    "DemandConfig",
    "DynamicNetworkConfig",
    "EnergyConfig",
    "FederationConfig",
    "MigrationConfig",
    "OverlayConfig",
    "apply_overrides",
    "config_from_dict",
    "load_config",
    "parse_peersim",
]

#: Default price per energy type (m.u./kWh): solar, wind, hydro, geothermal, biomass; more types
#: continue the ladder in steps of 0.02. An assumption of peergrid: Petri et al. give no prices.
DEFAULT_PRICES: tuple[float, ...] = (0.10, 0.08, 0.12, 0.15, 0.18)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_range(name: str, pair: tuple[float, float], *, positive: bool) -> None:
    lo, hi = pair
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite")
    if lo < 0 or lo > hi or (positive and hi <= 0):
        raise ValueError(f"{name} must be [low, high] with 0 <= low <= high" + (" and high > 0" if positive else ""))


class OverlayConfig(_Strict):
    """Overlay network: views of ``view`` neighbours, rewired every ``period`` cycles."""

    view: int = Field(10, ge=1, description="d, neighbours per view")
    wiring: Literal["random"] = "random"
    rewiring: Literal["none", "newscast", "triadic"] = "newscast"
    period: int = Field(15, ge=1, description="c, cycles between rewiring rounds")
    federation_links: float = Field(0.2, ge=0, le=1, description="share of view slots outside the own cluster")
    sample: int = Field(0, ge=0, description="nodes sampled for clustering / path length (0: off)")


class ClusterConfig(_Strict):
    """Cluster managers: ``count`` clusters of about ``nodes / count`` members."""

    count: int = Field(1, ge=1)
    scope: Literal["view", "cluster"] = "view"


class EnergyConfig(_Strict):
    """Energy types, production capacity, prices and the payoff alpha."""

    types: int = Field(5, ge=1, le=32, description="S energy types")
    types_per_node: int = Field(1, ge=1, le=32)
    producer_share: float = Field(1.0, ge=0, le=1)
    capacity: tuple[float, float] = (1.0, 10.0)
    prices: tuple[float, ...] | None = None
    price_spread: float = Field(0.0, ge=0, lt=1)
    payoff: float = Field(1.0, ge=0, description="alpha, m.u. per exchange")
    engagement_payoff: float = Field(0.0, ge=0, description="h in P(engaged) = alpha / (alpha + h)")

    @model_validator(mode="after")
    def _check(self) -> EnergyConfig:
        _check_range("capacity", self.capacity, positive=False)
        if self.types_per_node > self.types:
            raise ValueError(f"types_per_node = {self.types_per_node} exceeds types = {self.types}")
        if self.prices is not None:
            if len(self.prices) != self.types:
                raise ValueError(f"prices has {len(self.prices)} entries, expected types = {self.types}")
            if any(not (math.isfinite(p) and p >= 0) for p in self.prices):
                raise ValueError("prices must be finite and >= 0")
        return self

    def type_prices(self) -> tuple[float, ...]:
        """Price per energy type (m.u./kWh)."""
        if self.prices is not None:
            return tuple(self.prices)
        extra = [DEFAULT_PRICES[-1] + 0.02 * (k + 1) for k in range(max(0, self.types - len(DEFAULT_PRICES)))]
        return (*DEFAULT_PRICES, *extra)[: self.types]


class DemandConfig(_Strict):
    """Requests: probability per node and cycle, arrival law, quantity and price range."""

    request_probability: float = Field(0.25, ge=0, le=1)
    arrivals: Literal["bernoulli", "poisson"] = "bernoulli"
    quantity: tuple[float, float] = (1.0, 5.0)
    price_tolerance: float | None = Field(None, ge=0, description="accept prices up to type price x (1 + tol)")
    order: Literal["index", "shuffle"] = "index"

    @model_validator(mode="after")
    def _check(self) -> DemandConfig:
        _check_range("quantity", self.quantity, positive=True)
        return self


class DynamicNetworkConfig(_Strict):
    """PeerSim ``peersim.dynamics.DynamicNetwork``: add (or remove) nodes on a schedule.

    ``add`` nodes every ``step`` cycles from cycle ``from`` (inclusive) until cycle
    ``until`` (exclusive); ``|add| < 1`` is a fraction of the current size; negative
    values remove random nodes; the size stays within ``[minsize, maxsize]`` unless
    ``substitute`` (then removed nodes are replaced one for one). Injected nodes issue
    one request in the cycle they join when ``request`` is true.
    """

    add: float
    step: int = Field(1, ge=1)
    from_: int = Field(0, ge=0, alias="from")
    until: int | None = Field(None, ge=0)
    maxsize: int | None = Field(None, ge=1)
    minsize: int = Field(0, ge=0)
    substitute: bool = False
    request: bool = True

    @model_validator(mode="after")
    def _check(self) -> DynamicNetworkConfig:
        if not math.isfinite(self.add):
            raise ValueError("add must be finite")
        if self.maxsize is not None and self.maxsize < self.minsize:
            raise ValueError(f"maxsize = {self.maxsize} is below minsize = {self.minsize}")
        return self

    def active(self, cycle: int) -> bool:
        """PeerSim ``Scheduler.active``: ``from <= t < until`` and ``(t - from) % step == 0``."""
        if cycle < self.from_ or (self.until is not None and cycle >= self.until):
            return False
        return (cycle - self.from_) % self.step == 0


class MigrationConfig(_Strict):
    """Node migration between clusters (Petri et al. experiments 6 and 7)."""

    strategy: Literal["none", "random", "strategic", "mixed"] = "none"
    probability: float = Field(0.25, ge=0, le=1, description="migration threshold")
    period: int = Field(15, ge=1)
    fee: float = Field(1.0, ge=0, description="commission fee per migration, m.u.")


class FederationConfig(_Strict):
    """A complete federation run (see the module docstring for the TOML layout)."""

    name: str = "federation"
    description: str = ""
    nodes: int = Field(1000, ge=2, le=100_000_000)
    cycles: int = Field(100, ge=1, le=10_000_000)
    seed: int = Field(0, ge=0)
    overlay: OverlayConfig = OverlayConfig()
    clusters: ClusterConfig = ClusterConfig()
    energy: EnergyConfig = EnergyConfig()
    demand: DemandConfig = DemandConfig()
    dynamics: tuple[DynamicNetworkConfig, ...] = ()
    migration: MigrationConfig = MigrationConfig()

    @model_validator(mode="after")
    def _check(self) -> FederationConfig:
        if self.overlay.view >= self.nodes:
            raise ValueError(f"overlay.view = {self.overlay.view} must be smaller than nodes = {self.nodes}")
        if self.clusters.count > self.nodes:
            raise ValueError(f"clusters.count = {self.clusters.count} exceeds nodes = {self.nodes}")
        if self.migration.strategy != "none" and self.clusters.count < 2:
            raise ValueError("migration needs clusters.count >= 2")
        return self


def config_from_dict(data: dict, origin: str = "<dict>") -> FederationConfig:
    """Validate a configuration mapping (parsed TOML or a PeerSim translation).

    Parameters
    ----------
    data : dict
        Nested mapping with the TOML layout.
    origin : str
        File name for error messages.

    Returns
    -------
    FederationConfig

    Raises
    ------
    ConfigError
        One line naming the file and the key.
    """
    return validate_model(FederationConfig, data, origin)


def apply_overrides(data: dict, overrides: dict[str, Any]) -> dict:
    """Return a copy of ``data`` with dotted keys (``"demand.request_probability"``) set."""
    out = _deepcopy(data)
    for key, value in overrides.items():
        parts = key.split(".")
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
                node[p] = nxt
            node = nxt
        node[parts[-1]] = _deepcopy(value)
    return out


def _deepcopy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _deepcopy(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_deepcopy(x) for x in v]
    return v


def load_config(path: str | Path) -> FederationConfig:
    """Read a federation configuration: TOML (``*.toml``) or a PeerSim ``key value`` file.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    FederationConfig

    Raises
    ------
    ConfigError
        Missing file, malformed file, unknown key or out-of-range value (one line).
    """
    p = Path(path)
    if p.suffix.lower() == ".toml":
        return config_from_dict(read_toml(p, "configuration file"), str(p))
    if not p.is_file():
        raise ConfigError(f"{p}: configuration file not found")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read ({exc})") from None
    return config_from_dict(parse_peersim(text, str(p)), str(p))


# ---- PeerSim configuration files -----------------------------------------------------------

_NEWSCAST = {"example.newscast.SimpleNewscast", "SimpleNewscast", "peersim.extras.mj.newscast.Newscast", "Newscast"}
_IDLE = {"peersim.core.IdleProtocol", "IdleProtocol"}
_ENERGY = {"peergrid.Energy", "peergrid.federation.Energy", "Energy"}
_WIREKOUT = {"peersim.dynamics.WireKOut", "WireKOut"}
_DYNAMIC = {"peersim.dynamics.DynamicNetwork", "DynamicNetwork"}
_TRIADIC = {"peergrid.TriadicRewire", "TriadicRewire"}
_MIGRATION = {"peergrid.Migration", "Migration"}
_CLUSTERS = {"peergrid.Clusters", "Clusters"}

#: PeerSim energy-protocol attribute -> (section, field).
_ENERGY_KEYS = {
    "types": ("energy", "types"),
    "types_per_node": ("energy", "types_per_node"),
    "producer_share": ("energy", "producer_share"),
    "capacity_min": ("energy", "capacity", 0),
    "capacity_max": ("energy", "capacity", 1),
    "price_spread": ("energy", "price_spread"),
    "payoff": ("energy", "payoff"),
    "engagement_payoff": ("energy", "engagement_payoff"),
    "prices": ("energy", "prices"),
    "request_probability": ("demand", "request_probability"),
    "probability": ("demand", "request_probability"),
    "arrivals": ("demand", "arrivals"),
    "quantity_min": ("demand", "quantity", 0),
    "quantity_max": ("demand", "quantity", 1),
    "price_tolerance": ("demand", "price_tolerance"),
    "order": ("demand", "order"),
}


def _value(raw: str) -> Any:
    s = raw.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        pass
    if "," in s:
        return [_value(x) for x in s.split(",") if x.strip()]
    return s


def _split_line(line: str) -> tuple[str, str] | None:
    line = line.split("#", 1)[0].strip()
    if not line:
        return None
    m = re.match(r"^([^\s=:]+)\s*(?:[=:]\s*|\s+)(.*)$", line)
    if not m:
        return line, ""
    return m.group(1), m.group(2).strip()


def parse_peersim(text: str, origin: str = "<peersim>") -> dict:
    """Translate a PeerSim-style configuration into the nested TOML layout.

    Recognised keys (``key value`` or ``key = value``; ``#`` starts a comment)::

        random.seed 1234
        simulation.cycles 100
        network.size 1000
        protocol.lnk example.newscast.SimpleNewscast   # or IdleProtocol (static overlay)
        protocol.lnk.cache 10                          # view size d
        protocol.lnk.step 15                           # rewiring period c (Newscast)
        protocol.energy peergrid.Energy
        protocol.energy.linkable lnk
        protocol.energy.types 5
        protocol.energy.request_probability 0.25
        protocol.energy.payoff 1
        init.rnd WireKOut
        init.rnd.protocol lnk
        init.rnd.k 10                                  # view size d when the overlay is static
        control.dyn peersim.dynamics.DynamicNetwork
        control.dyn.add 20
        control.dyn.step 1
        control.dyn.from 400
        control.dyn.until 800
        control.dyn.maxsize 1000
        control.tri peergrid.TriadicRewire             # add a neighbour-of-neighbour link every step
        control.tri.step 15
        control.mig peergrid.Migration
        control.mig.strategy strategic
        control.mig.probability 0.25
        control.mig.fee 1
        control.mig.step 15
        control.cl peergrid.Clusters
        control.cl.count 50

    Parameters
    ----------
    text : str
        File contents.
    origin : str
        File name for error messages.

    Returns
    -------
    dict
        Mapping for :func:`config_from_dict`.

    Raises
    ------
    ConfigError
        Unknown or unsupported keys, naming the key and the line.
    """
    entries: dict[str, tuple[Any, int]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        kv = _split_line(line)
        if kv is None:
            continue
        key, raw = kv
        if raw == "":
            raise ConfigError(f"{origin}:{lineno}: {key}: missing value")
        entries[key] = (_value(raw), lineno)

    out: dict[str, Any] = {"overlay": {"rewiring": "none"}, "energy": {}, "demand": {}}
    used: set[str] = set()

    def take(key: str) -> Any:
        used.add(key)
        return entries[key][0]

    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"{origin}:{entries[key][1]}: {key}: {msg}")

    simple = {"random.seed": ("seed",), "simulation.cycles": ("cycles",), "network.size": ("nodes",)}
    for key, path in simple.items():
        if key in entries:
            out[path[0]] = take(key)
    if "simulation.experiments" in entries and take("simulation.experiments") != 1:
        fail("simulation.experiments", "only 1 is supported; use `peergrid sweep` for repeated runs")
    for key in ("network.initialCapacity", "simulation.logtime"):
        if key in entries:
            take(key)

    names = {k: v for k, (v, _) in entries.items() if k.count(".") == 1}
    for key, cls in names.items():
        kind = key.split(".")[0]
        if kind == "protocol":
            used.add(key)
            if cls in _NEWSCAST:
                out["overlay"]["rewiring"] = "newscast"
                for attr, field in (("cache", "view"), ("step", "period")):
                    if f"{key}.{attr}" in entries:
                        out["overlay"][field] = take(f"{key}.{attr}")
            elif cls in _IDLE:
                if f"{key}.capacity" in entries:
                    take(f"{key}.capacity")
            elif cls in _ENERGY:
                if f"{key}.linkable" in entries:
                    take(f"{key}.linkable")
                for attr, target in _ENERGY_KEYS.items():
                    full = f"{key}.{attr}"
                    if full in entries:
                        val = take(full)
                        sec = out[target[0]]
                        if len(target) == 3:
                            pair = list(sec.get(target[1], [None, None]))
                            pair[target[2]] = val
                            sec[target[1]] = pair
                        else:
                            sec[target[1]] = val if not isinstance(val, list) else list(val)
            else:
                fail(key, f"unsupported protocol class {cls!r}")
        elif kind == "init":
            used.add(key)
            if cls in _WIREKOUT:
                if f"{key}.k" in entries:
                    out["overlay"].setdefault("view", take(f"{key}.k"))
                for attr in ("protocol", "undir"):
                    if f"{key}.{attr}" in entries:
                        take(f"{key}.{attr}")
            else:
                fail(key, f"unsupported initializer class {cls!r}")
        elif kind == "control":
            used.add(key)
            if cls in _DYNAMIC:
                dyn: dict[str, Any] = {}
                for attr in ("add", "step", "from", "until", "maxsize", "minsize", "substitute"):
                    if f"{key}.{attr}" in entries:
                        dyn[attr] = take(f"{key}.{attr}")
                for k in [k for k in entries if k.startswith(f"{key}.init")]:
                    take(k)  # node initialisers: peergrid initialises injected nodes like all others
                out.setdefault("dynamics", []).append(dyn)
            elif cls in _TRIADIC:
                out["overlay"]["rewiring"] = "triadic"
                if f"{key}.step" in entries:
                    out["overlay"]["period"] = take(f"{key}.step")
            elif cls in _MIGRATION:
                mig: dict[str, Any] = {}
                for attr, field in (("strategy", "strategy"), ("probability", "probability"), ("fee", "fee")):
                    if f"{key}.{attr}" in entries:
                        mig[field] = take(f"{key}.{attr}")
                if f"{key}.step" in entries:
                    mig["period"] = take(f"{key}.step")
                out["migration"] = mig
            elif cls in _CLUSTERS:
                cl: dict[str, Any] = {}
                for attr in ("count", "scope"):
                    if f"{key}.{attr}" in entries:
                        cl[attr] = take(f"{key}.{attr}")
                out["clusters"] = cl
                if f"{key}.federation_links" in entries:
                    out["overlay"]["federation_links"] = take(f"{key}.federation_links")
            else:
                fail(key, f"unsupported control class {cls!r}")
        elif key not in used:
            fail(key, "unknown key")
    for key in entries:
        if key not in used:
            fail(key, "unknown key")
    for sec in ("energy", "demand"):
        for field in ("capacity", "quantity"):
            pair = out[sec].get(field)
            if pair is not None and None in pair:
                default = {"capacity": (1.0, 10.0), "quantity": (1.0, 5.0)}[field]
                out[sec][field] = [default[i] if v is None else v for i, v in enumerate(pair)]
    return out
