"""Petri et al. 2020 experiments 1–8 (section V-C, Figures 4 and 5) as peergrid sweeps.

Every experiment varies one parameter of a common base federation (Petri et al.,
section V-A: N = 1000 nodes, random overlay rewired by Newscast, energy types
S_i ∈ {1..5}, payoff 1, 25 % request probability, Poisson arrivals) and reports
the totals of eqs. 1–3 averaged over seeds with 95 % confidence intervals. Values
the paper does not state are peergrid assumptions, listed in :data:`BASE` and in
``docs/federation.md``: 200 cycles, view d = 10, Newscast period c = 15, 50
clusters with 20 % federation links, capacity U(1, 10) kWh and quantity U(1, 5) kWh
(the issue's PeerSim workload), and an engagement response h = 0.5 (a producer
offers its capacity in a cycle with probability α / (α + h) — Petri et al.,
experiment 8: "nodes are less incentivised to participate" at low payoffs).
Experiments 6 and 7 (migration between clusters) let the cluster managers
broadcast requests to their cluster's members (``clusters.scope = "cluster"``):
with views as trading paths every cluster is statistically the same, and
migration could only add fees.

Each experiment carries the paper's qualitative finding and an explicit criterion
(:func:`assess`) so that "reproduced or not" is computed, not eyeballed.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from peergrid.core.errors import ConfigError
from peergrid.federation.config import apply_overrides
from peergrid.federation.sweep import Point, build_tasks, execute, make_seeds, summarize

__all__ = [
    "BASE",
    "EXPERIMENTS",
    "Experiment",
    "ExperimentResult",
    "assess",
    "experiment_base",
    "experiment_points",
    "plot_experiment",
    "run_experiment",
    "write_experiment",
]

#: The base federation of all experiments (TOML layout).
BASE: dict[str, Any] = {
    "name": "petri-2020",
    "nodes": 1000,
    "cycles": 200,
    "overlay": {"view": 10, "rewiring": "newscast", "period": 15, "federation_links": 0.2},
    "clusters": {"count": 50, "scope": "view"},
    "energy": {"types": 5, "capacity": [1.0, 10.0], "payoff": 1.0, "engagement_payoff": 0.5},
    "demand": {"request_probability": 0.25, "arrivals": "poisson", "quantity": [1.0, 5.0]},
    "migration": {"strategy": "none", "probability": 0.25, "period": 15, "fee": 1.0},
}

_LABELS = {
    "requests": "service requests",
    "exchanges": "exchanges (eq. 1)",
    "cost": "total cost, m.u. (eq. 2)",
    "consumption_kwh": "total consumption, kWh (eq. 3)",
    "clustering": "clustering coefficient",
    "path_length": "average path length (hops)",
}


@dataclass(frozen=True)
class Experiment:
    """One experiment: what varies, what is plotted, and the paper's finding."""

    key: str
    title: str
    figure: str
    xlabel: str
    metrics: tuple[str, str]
    points: tuple[Point, ...]
    finding: str
    overrides: tuple[tuple[str, Any], ...] = ()
    categorical: bool = False


def _pts(key: str, values: list, fmt: Callable[[Any], str] = str, series: str = "") -> tuple[Point, ...]:
    return tuple(Point(fmt(v), v, series, {key: v}) for v in values)


def _dyn(add: int, step: int, start: int = 0, until: int | None = None) -> list[dict]:
    d: dict[str, Any] = {"add": add, "step": step, "from": start, "maxsize": 1000}
    if until is not None:
        d["until"] = until
    return [d]


_EXP_2B = tuple(
    Point(f"{s} types, +{k}/cycle", k, f"{s} types", {"energy.types": s, "dynamics": _dyn(k, 1)})
    for s in (2, 5)
    for k in (10, 20, 30, 100)
)
_EXP_2C = (
    Point("L 10-1", "L 10-1", "long", {"dynamics": _dyn(10, 1)}),
    Point("L 100-1", "L 100-1", "long", {"dynamics": _dyn(100, 1)}),
    Point("L 10-30", "L 10-30", "long", {"dynamics": _dyn(10, 30)}),
    Point("L 100-30", "L 100-30", "long", {"dynamics": _dyn(100, 30)}),
    Point("L 30-5", "L 30-5", "long", {"dynamics": _dyn(30, 5)}),
    Point("L 50-5", "L 50-5", "long", {"dynamics": _dyn(50, 5)}),
    Point("m 20-1 (400-800)", "m 20-1", "medium", {"dynamics": _dyn(20, 1, 400, 800)}),
    Point("s 50-1 (500-700)", "s 50-1", "short", {"dynamics": _dyn(50, 1, 500, 700)}),
)

EXPERIMENTS: dict[str, Experiment] = {
    "1": Experiment(
        "1",
        "Exchanges with demand",
        "4a",
        "request probability",
        ("requests", "exchanges"),
        _pts("demand.request_probability", [0.10, 0.25, 0.50, 0.75], lambda v: f"{v:.0%}"),
        "exchanges saturate between 25% and 50% request probability",
    ),
    "2a": Experiment(
        "2a",
        "Exchanges with energy types",
        "4b",
        "energy types S",
        ("requests", "exchanges"),
        _pts("energy.types", [1, 2, 3, 4, 5]),
        "3 energy types are optimal for exchanges",
    ),
    "2b": Experiment(
        "2b",
        "Exchanges with demand frequency (new requesting nodes per cycle)",
        "4c",
        "new requesting nodes per cycle",
        ("requests", "exchanges"),
        _EXP_2B,
        "more injected demand gives more exchanges; 2 types are more sensitive than 5",
        overrides=(("nodes", 100),),
    ),
    "2c": Experiment(
        "2c",
        "Exchanges with demand duration (k requests every m cycles)",
        "4d",
        "demand configuration k-m",
        ("requests", "exchanges"),
        _EXP_2C,
        "long demand produces more exchanges than medium and short demand",
        overrides=(("nodes", 100), ("cycles", 1000)),
        categorical=True,
    ),
    "3": Experiment(
        "3",
        "Exchanges with cluster size (view d)",
        "4e",
        "cluster size d (neighbours)",
        ("requests", "exchanges"),
        _pts("overlay.view", [3, 5, 10, 20]),
        "exchanges grow with cluster size",
    ),
    "4": Experiment(
        "4",
        "Cost and consumption with energy types",
        "5a",
        "energy types S",
        ("cost", "consumption_kwh"),
        _pts("energy.types", [1, 2, 3, 4, 5]),
        "cost and consumption peak at 4 energy types",
    ),
    "5": Experiment(
        "5",
        "Cost and consumption with cluster size (view d)",
        "5b",
        "cluster size d (neighbours)",
        ("cost", "consumption_kwh"),
        _pts("overlay.view", [5, 10, 15, 20]),
        "cluster sizes 5–10 are the cheapest",
    ),
    "6": Experiment(
        "6",
        "Cost and consumption with random migration",
        "5c",
        "migration threshold",
        ("cost", "consumption_kwh"),
        (
            Point("none", "none", "", {"migration.strategy": "none"}),
            *(
                Point(f"{p:.2f}", f"{p:.2f}", "", {"migration.strategy": "random", "migration.probability": p})
                for p in (0.25, 0.50, 0.75)
            ),
        ),
        "random migration at thresholds 0.25 and 0.5 raises the cost; 0.75 has less impact",
        overrides=(("clusters.scope", "cluster"),),
        categorical=True,
    ),
    "7": Experiment(
        "7",
        "Cost and consumption with migration strategy",
        "5d",
        "migration strategy",
        ("cost", "consumption_kwh"),
        tuple(Point(s, s, "", {"migration.strategy": s}) for s in ("none", "mixed", "strategic", "random")),
        "strategic migration benefits the federation (more exchanges and consumption than no migration)",
        overrides=(("clusters.scope", "cluster"),),
        categorical=True,
    ),
    "8": Experiment(
        "8",
        "Cost and consumption with payoffs",
        "5e",
        "payoff α (m.u. per exchange)",
        ("cost", "consumption_kwh"),
        _pts("energy.payoff", [1.0, 2.0, 3.0, 4.0], lambda v: f"{v:g}"),
        "consumption grows with the payoff",
    ),
    "overlay": Experiment(
        "overlay",
        "Small world: Newscast period c",
        "3",
        "rewiring period c (cycles)",
        ("clustering", "path_length"),
        (
            Point("random (no rewiring)", "none", "", {"overlay.rewiring": "none"}),
            *(Point(f"c={c}", f"c={c}", "", {"overlay.period": c}) for c in (1, 15, 30, 60)),
        ),
        "Newscast rewiring turns the random overlay into a small world (higher clustering, short paths)",
        overrides=(("overlay.sample", 300), ("clusters.count", 1)),
        categorical=True,
    ),
}


def experiment_base(key: str, scale: dict | None = None) -> dict:
    """Base configuration of an experiment (``BASE``, the experiment's overrides, then ``scale``).

    With fewer nodes, the number of clusters shrinks to keep at least 20 nodes per cluster.
    """
    exp = _get(key)
    base = apply_overrides(BASE, {**dict(exp.overrides), **(scale or {})})
    clusters = base["clusters"]["count"]
    fit = max(1, base["nodes"] // 20)
    if clusters > fit:
        base = apply_overrides(base, {"clusters.count": fit})
    return base


def experiment_points(key: str, scale: dict | None = None) -> tuple[Point, ...]:
    """The experiment's points; dynamics ``maxsize`` follows a ``nodes`` override (scaled runs)."""
    exp = _get(key)
    if not scale or "nodes" not in scale or key not in ("2b", "2c"):
        return exp.points
    factor = scale["nodes"] / 100
    out = []
    for p in exp.points:
        ov = dict(p.overrides)
        ov["dynamics"] = [
            {**d, "maxsize": max(2, round(10 * scale["nodes"])), "add": max(1, round(d["add"] * factor))}
            for d in ov["dynamics"]
        ]
        out.append(Point(p.label, p.x, p.series, ov))
    return tuple(out)


def _get(key: str) -> Experiment:
    if key not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {key!r}; choose from {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[key]


@dataclass
class ExperimentResult:
    """Rows (one per run), the per-point summary, the finding's assessment and timing."""

    experiment: Experiment
    rows: pd.DataFrame
    summary: pd.DataFrame
    assessment: dict
    seeds: int
    seconds: float
    backend: str


def run_experiment(
    key: str,
    seeds: int = 10,
    root_seed: int = 0,
    backend: Literal["local", "dask", "ray"] = "local",
    address: str | None = None,
    workers: int = 2,
    nodes: int | None = None,
    cycles: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExperimentResult:
    """Run one of Petri et al.'s experiments over ``seeds`` seeds.

    Parameters
    ----------
    key : str
        ``"1"``, ``"2a"``, ``"2b"``, ``"2c"``, ``"3"`` … ``"8"`` (or ``"overlay"``).
    seeds : int
        Runs per point (the paper's figures are averages; default 10).
    root_seed : int
        Root of the :class:`numpy.random.SeedSequence` the run seeds are spawned from.
    backend, address, workers
        See :func:`peergrid.federation.sweep.execute`.
    nodes, cycles : int, optional
        Scale the experiment down (tests) or up.
    progress : callable, optional
        Called with ``(done, total)`` runs.

    Returns
    -------
    ExperimentResult
    """
    import time

    exp = _get(key)
    scale = {k: v for k, v in (("nodes", nodes), ("cycles", cycles)) if v is not None}
    base = experiment_base(key, scale)
    tasks = build_tasks(base, experiment_points(key, scale), make_seeds(seeds, root_seed), key, f"experiment {key}")
    t0 = time.perf_counter()
    cb = (lambda d: progress(d, len(tasks))) if progress else None
    rows = pd.DataFrame(execute(tasks, backend, address, workers, cb))
    seconds = time.perf_counter() - t0
    summary = summarize(rows)
    return ExperimentResult(exp, rows, summary, assess(key, summary), seeds, seconds, backend)


# ---- findings --------------------------------------------------------------------------------


def _col(summary: pd.DataFrame, metric: str) -> np.ndarray:
    return summary[f"{metric}_mean"].to_numpy(float)


def assess(key: str, summary: pd.DataFrame) -> dict:
    """Decide whether the paper's qualitative finding holds in ``summary``.

    Returns
    -------
    dict
        ``finding`` (the paper's claim), ``criterion`` (how it is tested), ``agrees``
        (bool) and ``measured`` (the numbers behind the decision).
    """
    exp = _get(key)
    s = summary.sort_values("point")
    x = list(s["x"])
    e, req = _col(s, "exchanges"), _col(s, "requests")
    cost, cons = _col(s, "cost"), _col(s, "consumption_kwh")
    out: dict[str, Any] = {"finding": exp.finding}
    if key == "1":
        ratio = e / np.maximum(req, 1)
        out["criterion"] = "exchanges at 75 % are at most 5 % above those at 50 % (a maximum at 25–50 %)"
        out["agrees"] = bool(e[3] <= 1.05 * e[2])
        out["measured"] = {
            "exchanges": dict(zip(x, e.round(1), strict=True)),
            "exchanges_per_request": dict(zip(x, ratio.round(3), strict=True)),
        }
    elif key == "2a":
        out["criterion"] = "the number of types with the most exchanges is 3"
        out["agrees"] = bool(x[int(np.argmax(e))] == 3)
        out["measured"] = {
            "exchanges": dict(zip(x, e.round(1), strict=True)),
            "requests": dict(zip(x, req.round(1), strict=True)),
        }
    elif key == "2b":
        series = {}
        for name, g in s.groupby("series", sort=False):
            v = _col(g, "exchanges")
            series[name] = {"exchanges": dict(zip(g["x"], v.round(1), strict=True)), "rise": float(v[-1] / v[0] - 1)}
        rises = [series[k]["rise"] for k in ("2 types", "5 types") if k in series]
        grows = all(np.all(np.diff(_col(g, "exchanges")) > 0) for _, g in s.groupby("series"))
        out["criterion"] = "exchanges grow with the injection rate for both type counts, relatively more for 2 types"
        out["agrees"] = bool(grows and len(rises) == 2 and rises[0] > rises[1])
        out["measured"] = series
    elif key == "2c":
        by = s.groupby("series")["exchanges_mean"].mean()
        out["criterion"] = "mean exchanges of long configurations > medium > short"
        out["agrees"] = bool(by.get("long", 0) > by.get("medium", 0) > by.get("short", 0))
        out["measured"] = {
            "mean_exchanges": {k: round(float(v), 1) for k, v in by.items()},
            "exchanges": dict(zip(x, e.round(1), strict=True)),
        }
    elif key == "3":
        out["criterion"] = "exchanges strictly increase with d"
        out["agrees"] = bool(np.all(np.diff(e) > 0))
        out["measured"] = {"exchanges": dict(zip(x, e.round(1), strict=True))}
    elif key == "4":
        out["criterion"] = "cost and consumption are both highest at 4 types"
        out["agrees"] = bool(x[int(np.argmax(cost))] == 4 and x[int(np.argmax(cons))] == 4)
        out["measured"] = {
            "cost": dict(zip(x, cost.round(1), strict=True)),
            "consumption_kwh": dict(zip(x, cons.round(1), strict=True)),
        }
    elif key == "5":
        per_kwh = cost / np.maximum(cons, 1e-9)
        out["criterion"] = "the lowest total cost is at d = 5 or 10"
        out["agrees"] = bool(x[int(np.argmin(cost))] in (5, 10))
        out["measured"] = {
            "cost": dict(zip(x, cost.round(1), strict=True)),
            "consumption_kwh": dict(zip(x, cons.round(1), strict=True)),
            "cost_per_kwh": dict(zip(x, per_kwh.round(4), strict=True)),
        }
    elif key == "6":
        base = cost[0]
        d = cost - base
        out["criterion"] = "cost(0.25) and cost(0.5) above no migration, and cost(0.75) closer to it than both"
        out["agrees"] = bool(d[1] > 0 and d[2] > 0 and abs(d[3]) < min(d[1], d[2]))
        out["measured"] = {
            "cost": dict(zip(x, cost.round(1), strict=True)),
            "consumption_kwh": dict(zip(x, cons.round(1), strict=True)),
            "exchanges": dict(zip(x, e.round(1), strict=True)),
        }
    elif key == "7":
        i = {v: k for k, v in enumerate(x)}
        out["criterion"] = "strategic migration has more exchanges and consumption than no migration"
        out["agrees"] = bool(e[i["strategic"]] > e[i["none"]] and cons[i["strategic"]] > cons[i["none"]])
        out["measured"] = {
            "exchanges": dict(zip(x, e.round(1), strict=True)),
            "consumption_kwh": dict(zip(x, cons.round(1), strict=True)),
            "cost": dict(zip(x, cost.round(1), strict=True)),
        }
    elif key == "8":
        out["criterion"] = "consumption strictly increases with α"
        out["agrees"] = bool(np.all(np.diff(cons) > 0))
        out["measured"] = {
            "consumption_kwh": dict(zip(x, cons.round(1), strict=True)),
            "cost": dict(zip(x, cost.round(1), strict=True)),
        }
    elif key == "overlay":
        c, length = _col(s, "clustering"), _col(s, "path_length")
        out["criterion"] = "every Newscast period has a higher clustering coefficient than the random overlay"
        out["agrees"] = bool(np.all(c[1:] > c[0]))
        out["measured"] = {
            "clustering": dict(zip(x, c.round(4), strict=True)),
            "path_length": dict(zip(x, length.round(3), strict=True)),
        }
    return out


# ---- figure and files ---------------------------------------------------------------------------


def plot_experiment(result: ExperimentResult) -> Figure:
    """Two panels (the experiment's two metrics) with means and 95 % confidence bands.

    Built with the matplotlib object API on an Agg canvas (no pyplot state), like
    :mod:`peergrid.report.plots`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    exp, s = result.experiment, result.summary.sort_values("point")
    s = s.assign(series=s["series"].fillna("").astype(str))  # "" comes back as NaN from a CSV
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    series = list(dict.fromkeys(s["series"]))
    xnum = pd.to_numeric(s["x"], errors="coerce")
    categorical = exp.categorical or bool(xnum.isna().any())
    if not categorical:
        s = s.assign(x=xnum.astype(float))
    labels = list(dict.fromkeys(s["x"])) if categorical else None
    for ax, metric in zip(axes, exp.metrics, strict=True):
        for k, name in enumerate(series):
            g = s[s["series"] == name]
            xs = np.array([labels.index(v) for v in g["x"]], float) if categorical else g["x"].to_numpy(float)
            mean = g[f"{metric}_mean"].to_numpy(float)
            lo, hi = g[f"{metric}_ci_lo"].to_numpy(float), g[f"{metric}_ci_hi"].to_numpy(float)
            color = f"C{k}"
            if categorical:  # no line between unordered categories: a band per point
                ax.plot(xs, mean, "o", color=color, ms=6, label=name or None)
                for xi, a, b in zip(xs, lo, hi, strict=True):
                    ax.fill_between([xi - 0.28, xi + 0.28], [a, a], [b, b], color=color, alpha=0.3, lw=0)
            else:
                ax.plot(xs, mean, "o-", color=color, lw=1.8, ms=5, label=name or None)
                ax.fill_between(xs, lo, hi, color=color, alpha=0.22, lw=0)
        if categorical:
            ax.set_xticks(range(len(labels)), [str(v) for v in labels], rotation=30 if len(labels) > 5 else 0)
        ax.set_xlabel(exp.xlabel)
        ax.set_ylabel(_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
        if any(series):
            ax.legend(frameon=False, fontsize=9)
    verdict = "agrees" if result.assessment.get("agrees") else "does not agree"
    lines = [
        f"Experiment {exp.key} (Petri et al. Fig. {exp.figure}): {exp.title} — mean of {result.seeds} seeds, 95 % CI",
        *textwrap.wrap(f"paper: {exp.finding} — peergrid {verdict}", 120),
    ]
    fig.suptitle("\n".join(lines), fontsize=10)
    return fig


def write_experiment(result: ExperimentResult, directory: Path) -> dict[str, str]:
    """Write ``experiment_<key>.csv`` (summary), ``runs.csv``, ``experiment_<key>.png`` and ``summary.json``."""
    directory = Path(directory)
    key = result.experiment.key
    files = {
        "csv": directory / f"experiment_{key}.csv",
        "runs": directory / "runs.csv",
        "png": directory / f"experiment_{key}.png",
        "json": directory / "summary.json",
    }
    result.summary.to_csv(files["csv"], index=False)
    result.rows.to_csv(files["runs"], index=False)
    plot_experiment(result).savefig(files["png"], dpi=120)
    files["json"].write_text(json.dumps(experiment_payload(result), indent=2, allow_nan=False, default=_jsonable))
    return {k: str(v) for k, v in files.items()}


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def experiment_payload(result: ExperimentResult) -> dict:
    """JSON-able description of an experiment result (stable keys)."""
    exp = result.experiment
    points = []
    for _, r in result.summary.sort_values("point").iterrows():
        p: dict[str, Any] = {
            "label": r["label"],
            "x": _jsonable(r["x"]) if not isinstance(r["x"], str) else r["x"],
            "series": r["series"],
            "runs": int(r["runs"]),
        }
        for m in ("requests", "exchanges", "consumption_kwh", "cost", "clustering", "path_length"):
            if f"{m}_mean" in r:
                p[m] = {
                    "mean": _finite(r[f"{m}_mean"]),
                    "ci_lo": _finite(r[f"{m}_ci_lo"]),
                    "ci_hi": _finite(r[f"{m}_ci_hi"]),
                }
        points.append(p)
    return {
        "experiment": exp.key,
        "title": exp.title,
        "figure": exp.figure,
        "seeds": result.seeds,
        "backend": result.backend,
        "seconds": round(result.seconds, 3),
        "points": points,
        "finding": json.loads(json.dumps(result.assessment, default=_jsonable)),
    }


def _finite(v: Any) -> float | None:
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None
