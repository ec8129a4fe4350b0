"""Parameter sweeps of federation runs on the local, Dask or Ray backend.

A sweep is a list of *tasks*: one validated configuration and one seed each. The
seeds of a sweep come from one :class:`numpy.random.SeedSequence` (``spawn``), and
the same seed list is used at every point of the grid (common random numbers), so
a task's numbers depend only on its configuration and seed — never on the backend,
the worker that ran it, or the order tasks finish in. Results are returned in task
order.

Backends:

- ``"local"`` — in this process, one task after another;
- ``"dask"`` — :mod:`dask.distributed`: the scheduler at ``address``, or a
  ``LocalCluster`` of ``workers`` single-threaded worker processes when no address is
  given (DESIGN.md: Dask is the default cluster backend);
- ``"ray"`` — a Ray cluster at ``address`` or a local Ray instance (Ray is optional).

A sweep specification (TOML)::

    name = "demand-and-types"
    seeds = 10               # runs per point
    seed = 0                 # root of the SeedSequence
    config = "base.toml"     # optional base configuration (TOML or PeerSim), relative to this file
    experiments = ["1", "2a"]  # optional: Petri et al. experiments (or ["all"])
    nodes = 1000             # optional overrides applied to every task
    cycles = 200
    [base]                   # optional overrides of the base configuration (nested tables)
    energy.payoff = 2.0
    [grid]                   # optional: cartesian product of dotted keys
    "demand.request_probability" = [0.1, 0.25, 0.5]
    "energy.types" = [3, 5]
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from peergrid.core.errors import ConfigError
from peergrid.core.tomlconfig import read_toml, validate_model
from peergrid.federation.config import FederationConfig, apply_overrides, config_from_dict, load_config

__all__ = [
    "BACKENDS",
    "ROW_METRICS",
    "SweepResult",
    "SweepSpec",
    "build_tasks",
    "execute",
    "load_spec",
    "make_seeds",
    "run_spec",
    "run_task",
    "summarize",
]

BACKENDS = ("local", "dask", "ray")

#: Per-run totals reported for every task (Petri et al. eqs. 1–3 and bookkeeping).
ROW_METRICS = (
    "requests",
    "requested_kwh",
    "fulfilled",
    "exchanges",
    "exchanged_kwh",
    "consumption_kwh",
    "energy_cost",
    "payoffs",
    "fees",
    "cost",
    "offered_kwh",
    "cost_eq2",
    "migrations",
    "node_cycles",
    "unmet_kwh",
)
_OVERLAY_METRICS = ("clustering", "path_length", "mean_degree", "sigma")


def make_seeds(n: int, root: int = 0) -> list[int]:
    """``n`` independent 63-bit seeds spawned from ``SeedSequence(root)``.

    Parameters
    ----------
    n : int
        Number of seeds (runs per point).
    root : int
        Entropy of the root :class:`numpy.random.SeedSequence`.

    Returns
    -------
    list of int
    """
    if n < 1:
        raise ConfigError(f"seeds = {n} must be >= 1")
    children = np.random.SeedSequence(int(root)).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


@dataclass(frozen=True)
class Point:
    """One point of a sweep: a label, an x value, a series name and config overrides."""

    label: str
    x: Any
    series: str
    overrides: dict


def build_tasks(
    base: dict,
    points: Sequence[Point],
    seeds: Sequence[int],
    experiment: str = "",
    origin: str = "<sweep>",
) -> list[dict]:
    """Validate every point's configuration and pair it with every seed.

    Parameters
    ----------
    base : dict
        Base configuration mapping (TOML layout).
    points : sequence of Point
    seeds : sequence of int
    experiment : str
        Experiment key stored in each task.
    origin : str
        File name for error messages.

    Returns
    -------
    list of dict
        Picklable tasks for :func:`run_task`, points outer, seeds inner.

    Raises
    ------
    ConfigError
        A point produces an invalid configuration (names the key and the point).
    """
    tasks = []
    for i, pt in enumerate(points):
        data = apply_overrides(base, pt.overrides)
        try:
            cfg = config_from_dict(data, f"{origin} [{pt.label}]")
        except ConfigError:
            raise
        dump = cfg.model_dump(by_alias=True)
        for j, seed in enumerate(seeds):
            tasks.append(
                {
                    "experiment": experiment,
                    "point": i,
                    "label": pt.label,
                    "x": pt.x,
                    "series": pt.series,
                    "seed_index": j,
                    "seed": int(seed),
                    "config": dump,
                }
            )
    return tasks


def run_task(task: dict) -> dict:
    """Run one task (any backend calls exactly this) and return its row of totals.

    Parameters
    ----------
    task : dict
        From :func:`build_tasks`.

    Returns
    -------
    dict
        Task keys (without the configuration), the totals of :data:`ROW_METRICS`,
        overlay figures at the end when sampled (``clustering``, ``path_length``,
        ``clustering_start``, ...), and ``seconds`` (wall time; the only field that
        differs between backends).
    """
    from peergrid.federation.engine import simulate

    cfg = FederationConfig.model_validate(task["config"])
    res = simulate(cfg, seed=task["seed"])
    totals = res.totals()
    row = {k: task[k] for k in ("experiment", "point", "label", "x", "series", "seed_index", "seed")}
    row.update({k: totals[k] for k in ROW_METRICS})
    if res.overlay_end is not None:
        for k in _OVERLAY_METRICS:
            row[k] = res.overlay_end[k]
            row[f"{k}_start"] = res.overlay_start[k] if res.overlay_start else float("nan")
    row["seconds"] = res.seconds
    return row


def _run_local(tasks: list[dict], progress: Callable[[int], None] | None) -> list[dict]:
    out = []
    for i, t in enumerate(tasks):
        out.append(run_task(t))
        if progress:
            progress(i + 1)
    return out


def _run_dask(
    tasks: list[dict], address: str | None, workers: int, progress: Callable[[int], None] | None, processes: bool
) -> list[dict]:
    from peergrid.core.cluster import dask_client

    with dask_client(address, workers, processes=processes) as client:
        from distributed import as_completed

        futures = client.map(run_task, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[dict | None] = [None] * len(tasks)
        for done, fut in enumerate(as_completed(futures), 1):
            out[index[fut.key]] = fut.result()
            if progress:
                progress(done)
        return out  # type: ignore[return-value]


def _run_ray(
    tasks: list[dict], address: str | None, workers: int, progress: Callable[[int], None] | None
) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs Ray, which is not installed: pip install ray") from None
    started = not ray.is_initialized()
    if started:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = workers
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError) as exc:
            raise ConfigError(f"cannot start or reach Ray ({address or 'local'}): {exc}") from None
    try:
        remote = ray.remote(num_cpus=1)(run_task)
        refs = [remote.remote(t) for t in tasks]
        index = {r: i for i, r in enumerate(refs)}
        out: list[dict | None] = [None] * len(tasks)
        pending, done = list(refs), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                out[index[r]] = ray.get(r)
                done += 1
            if progress:
                progress(done)
        return out  # type: ignore[return-value]
    finally:
        if started:
            ray.shutdown()


def execute(
    tasks: list[dict],
    backend: Literal["local", "dask", "ray"] = "local",
    address: str | None = None,
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    processes: bool = True,
) -> list[dict]:
    """Run tasks on a backend; rows come back in task order.

    Parameters
    ----------
    tasks : list of dict
    backend : {"local", "dask", "ray"}
    address : str, optional
        Scheduler / cluster address (Dask ``tcp://host:8786``, Ray ``ray://host:10001``).
    workers : int
        Workers of the local cluster when no address is given.
    progress : callable, optional
        Called with the number of finished tasks.
    processes : bool
        Dask ``LocalCluster`` with worker processes (True) or threads (False).

    Returns
    -------
    list of dict
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if workers < 1:
        raise ConfigError(f"workers = {workers} must be >= 1")
    if backend == "local":
        return _run_local(tasks, progress)
    if backend == "dask":
        return _run_dask(tasks, address, workers, progress, processes)
    return _run_ray(tasks, address, workers, progress)


def summarize(rows: pd.DataFrame, metrics: Sequence[str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Mean, standard deviation and a Student-t confidence interval per point and metric.

    Parameters
    ----------
    rows : pandas.DataFrame
        One row per task (from :func:`execute`).
    metrics : sequence of str, optional
        Columns to aggregate (default: every numeric metric present).
    level : float
        Confidence level of the interval (two-sided).

    Returns
    -------
    pandas.DataFrame
        One row per (experiment, point): ``label``, ``x``, ``series``, ``runs`` and, per
        metric ``m``: ``m_mean``, ``m_std``, ``m_ci_lo``, ``m_ci_hi``.
    """
    from scipy import stats

    if metrics is None:
        metrics = [m for m in (*ROW_METRICS, *_OVERLAY_METRICS) if m in rows.columns]
    keys = ["experiment", "point"]
    out = []
    for (exp, point), g in rows.groupby(keys, sort=True):
        n = len(g)
        rec: dict[str, Any] = {
            "experiment": exp,
            "point": int(point),
            "label": g["label"].iloc[0],
            "x": g["x"].iloc[0],
            "series": g["series"].iloc[0],
            "runs": n,
        }
        tq = float(stats.t.ppf(0.5 + level / 2, n - 1)) if n > 1 else float("nan")
        for m in metrics:
            v = g[m].to_numpy(float)
            mean = float(v.mean())
            sd = float(v.std(ddof=1)) if n > 1 else 0.0
            half = tq * sd / math.sqrt(n) if n > 1 else 0.0
            rec.update({f"{m}_mean": mean, f"{m}_std": sd, f"{m}_ci_lo": mean - half, f"{m}_ci_hi": mean + half})
        out.append(rec)
    return pd.DataFrame(out)


# ---- specification files -------------------------------------------------------------------


class SweepSpec(BaseModel):
    """A sweep specification (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "sweep"
    seeds: int = Field(10, ge=1, le=100_000)
    seed: int = Field(0, ge=0)
    config: str | None = None
    experiments: tuple[str, ...] = ()
    nodes: int | None = Field(None, ge=2)
    cycles: int | None = Field(None, ge=1)
    base: dict = Field(default_factory=dict)
    grid: dict[str, list] = Field(default_factory=dict)

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list]) -> dict[str, list]:
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"grid key {k!r} has no values")
        return v


@dataclass
class SweepResult:
    """Rows (one per task), the per-point summary and the wall time of a sweep."""

    spec: SweepSpec
    rows: pd.DataFrame
    summary: pd.DataFrame
    seconds: float
    backend: str
    tasks: int


def load_spec(path: str | Path) -> tuple[SweepSpec, Path]:
    """Read and validate a sweep specification TOML file.

    Returns
    -------
    (SweepSpec, pathlib.Path)
        The spec and its directory (relative paths resolve against it).
    """
    p = Path(path)
    spec = validate_model(SweepSpec, read_toml(p, "sweep specification"), str(p))
    return spec, p.resolve().parent


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def spec_tasks(spec: SweepSpec, base_dir: Path, origin: str = "<sweep>") -> list[dict]:
    """All tasks of a specification (experiments first, then the grid)."""
    from peergrid.federation.experiments import EXPERIMENTS, experiment_base, experiment_points

    seeds = make_seeds(spec.seeds, spec.seed)
    scale = {k: v for k, v in (("nodes", spec.nodes), ("cycles", spec.cycles)) if v is not None}
    tasks: list[dict] = []
    names = list(EXPERIMENTS) if "all" in spec.experiments else list(spec.experiments)
    for name in names:
        if name not in EXPERIMENTS:
            choices = ", ".join(EXPERIMENTS)
            raise ConfigError(f"{origin}: experiments: unknown experiment {name!r}; choose from {choices}")
        base = apply_overrides(experiment_base(name, scale), _flatten(spec.base))
        tasks += build_tasks(base, experiment_points(name, scale), seeds, name, origin)
    if spec.grid or not names:
        if spec.config:
            path = (base_dir / spec.config) if not Path(spec.config).is_absolute() else Path(spec.config)
            base = load_config(path).model_dump(by_alias=True)
        else:
            base = {}
        base = apply_overrides(base, {**_flatten(spec.base), **scale})
        keys = list(spec.grid)
        points = []
        for combo in itertools.product(*(spec.grid[k] for k in keys)) if keys else [()]:
            ov = dict(zip(keys, combo, strict=True))
            label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in ov.items()) or "base"
            points.append(Point(label, combo[0] if len(combo) == 1 else label, "", ov))
        tasks += build_tasks(base, points, seeds, spec.name, origin)
    return tasks


def run_spec(
    spec: SweepSpec,
    base_dir: Path,
    backend: Literal["local", "dask", "ray"] = "local",
    address: str | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    origin: str = "<sweep>",
    processes: bool = True,
) -> SweepResult:
    """Build, run and summarise a sweep specification.

    Parameters
    ----------
    progress : callable, optional
        Called with ``(done, total)``.
    """
    tasks = spec_tasks(spec, base_dir, origin)
    t0 = time.perf_counter()
    cb = (lambda d: progress(d, len(tasks))) if progress else None
    rows = pd.DataFrame(execute(tasks, backend, address, workers, cb, processes))
    seconds = time.perf_counter() - t0
    return SweepResult(spec, rows, summarize(rows), seconds, backend, len(tasks))
