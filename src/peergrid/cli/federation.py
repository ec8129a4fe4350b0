"""``peergrid federation run|experiment`` and ``peergrid sweep`` (Petri et al. 2020 federations).

Thin commands in the style of :mod:`peergrid.cli.main`: errors become one line and
exit code 2 (``handle_errors``), output directories are written atomically
(:func:`peergrid.core.output.output_dir`, never over files peergrid did not write),
``--json`` prints exactly one JSON object (no progress; nothing written unless ``--out``),
long work shows a progress bar with its elapsed time on a terminal.
The ``federation`` group is the module-level typer app :data:`app`, ``sweep`` is on :data:`sweep_app`
(one command); :mod:`peergrid.cli.main` composes both into ``peergrid``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from peergrid.cli._common import handle_errors
from peergrid.cli.ui import Stages
from peergrid.core.output import OUT_HELP, check_output_dir, output_dir

__all__ = ["app", "experiment_cmd", "run_cmd", "sweep_app", "sweep_cmd"]

BackendOpt = Annotated[str, typer.Option(help="Where runs execute: local, dask or ray.")]
AddressOpt = Annotated[
    str | None, typer.Option(help="Scheduler address (Dask tcp://host:8786, Ray ray://host:10001); default: local.")
]
WorkersOpt = Annotated[int, typer.Option(min=1, help="Workers of the local Dask/Ray cluster (no --address).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with stable keys.")]


def _dump(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False, default=_default) + "\n")


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def _console():
    from peergrid.cli.ui import out_console

    return out_console()


def _fmt(v: float) -> str:
    return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"


app = typer.Typer(
    name="federation",
    help="Federations of energy clusters (Petri et al. 2020): single runs and experiments 1–8.",
    no_args_is_help=True,
)
"""The ``peergrid federation`` group (``run``, ``experiment``)."""

sweep_app = typer.Typer(pretty_exceptions_enable=False)
"""``peergrid sweep`` alone (one command: invoked without its name)."""


@app.command("run")
@handle_errors
def run_cmd(
    config: Annotated[Path, typer.Argument(help="Federation config: TOML, or a PeerSim 'key value' file.")],
    seed: Annotated[int | None, typer.Option(min=0, help="Seed (default: the config's).")] = None,
    nodes: Annotated[int | None, typer.Option(min=2, help="Override the number of nodes.")] = None,
    cycles: Annotated[int | None, typer.Option(min=1, help="Override the number of cycles.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write per_cycle.csv and summary.json here. " + OUT_HELP)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one federation and print the totals of Petri et al. eqs. 1–3."""
    from rich.table import Table

    from peergrid.federation import apply_overrides, config_from_dict, load_config, simulate

    if out is not None:
        check_output_dir(out)
    cfg = load_config(config)
    scale = {k: v for k, v in (("nodes", nodes), ("cycles", cycles)) if v is not None}
    if scale:
        cfg = config_from_dict(apply_overrides(cfg.model_dump(by_alias=True), scale), str(config))
    with Stages(enabled=not as_json) as stages:
        stages.start(f"federation of {cfg.nodes:,} nodes × {cfg.cycles} cycles", total=cfg.cycles)
        result = simulate(cfg, seed=seed, progress=stages.advance)
        payload = {"config": str(config), **result.summary()}
        if out is not None:
            stages.start("writing results")
            with output_dir(out, command="peergrid federation run") as tmp:
                result.to_frame().to_csv(tmp / "per_cycle.csv")
                (tmp / "summary.json").write_text(json.dumps(payload, indent=2, allow_nan=False))
            payload["out"] = str(out)
    if as_json:
        _dump(payload)
        return
    table = Table(title=f"{cfg.name}: {cfg.nodes:,} nodes × {result.cycles} cycles, seed {result.seed}")
    table.add_column("metric")
    table.add_column("total", justify="right")
    table.add_column("per node-cycle", justify="right")
    per = result.per_node_cycle()
    tot = result.totals()
    for key, label in (
        ("requests", "service requests"),
        ("exchanges", "exchanges (eq. 1)"),
        ("consumption_kwh", "consumption, kWh (eq. 3)"),
        ("cost", "cost, m.u. (eq. 2)"),
    ):
        table.add_row(label, _fmt(tot[key]), f"{per[key]:.4f}")
    table.add_row("fulfilled requests", _fmt(tot["fulfilled"]), "")
    table.add_row("migrations", _fmt(tot["migrations"]), "")
    con = _console()
    con.print(table)
    if result.overlay_start is not None and result.overlay_end is not None:
        a, b = result.overlay_start, result.overlay_end
        con.print(
            f"overlay: clustering {a['clustering']:.4f} -> {b['clustering']:.4f} "
            f"(random graph {b['random_clustering']:.4f}), path length {a['path_length']:.2f} -> "
            f"{b['path_length']:.2f} (random graph {b['random_path_length']:.2f})"
        )
    con.print(f"{result.seconds:.2f} s, {result.bytes_per_node:.0f} bytes per node")
    if out is not None:
        con.print(f"results: {out}")


@app.command("experiment")
@handle_errors
def experiment_cmd(
    name: Annotated[str, typer.Argument(help="Experiment: 1, 2a, 2b, 2c, 3, 4, 5, 6, 7, 8 (or overlay).")],
    seeds: Annotated[int, typer.Option(min=1, help="Runs per point, averaged.")] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Root seed (numpy SeedSequence).")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default out/federation/experiment-N; none under --json). " + OUT_HELP),
    ] = None,
    backend: BackendOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    nodes: Annotated[int | None, typer.Option(min=2, help="Scale the federation (default 1000).")] = None,
    cycles: Annotated[int | None, typer.Option(min=1, help="Override the cycles.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one of Petri et al.'s experiments; write CSV + PNG with 95 % confidence bands."""
    from rich.table import Table

    from peergrid.core.errors import ConfigError
    from peergrid.federation.experiments import EXPERIMENTS, experiment_payload, run_experiment, write_experiment
    from peergrid.federation.sweep import BACKENDS

    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    target = out if out is not None else (None if as_json else Path("out/federation") / f"experiment-{name}")
    if target is not None:
        check_output_dir(target)
    n_points = len(EXPERIMENTS[name].points)
    files: dict[str, str] = {}
    with Stages(enabled=not as_json) as stages:
        stages.start(f"experiment {name}: {n_points} points × {seeds} seeds on {backend}", total=n_points * seeds)
        result = run_experiment(
            name, seeds, seed, backend, address, workers, nodes, cycles, lambda done, _total: stages.advance(done)
        )
        if target is not None:
            stages.start("writing results")
            with output_dir(target, command="peergrid federation experiment") as tmp:
                files = write_experiment(result, tmp)
    payload = experiment_payload(result)
    payload["files"] = {k: str(target / Path(v).name) for k, v in files.items()} if target is not None else {}
    if as_json:
        _dump(payload)
        return
    exp = result.experiment
    table = Table(title=f"Experiment {exp.key} (Petri et al. Fig. {exp.figure}): {exp.title}, {seeds} seeds")
    table.add_column("point")
    for m in exp.metrics:
        table.add_column(f"{m} (mean, 95 % CI)", justify="right")
    for _, r in result.summary.sort_values("point").iterrows():
        cells = [f"{_fmt(r[f'{m}_mean'])} [{_fmt(r[f'{m}_ci_lo'])}, {_fmt(r[f'{m}_ci_hi'])}]" for m in exp.metrics]
        table.add_row(str(r["label"]), *cells)
    con = _console()
    con.print(table)
    a = result.assessment
    con.print(f"paper: {a['finding']} — peergrid {a['verdict']} ({a['criterion']}): {a['reason']}")
    con.print(f"{result.seconds:.1f} s on {backend}" + (f"; files: {target}" if target is not None else ""))


@sweep_app.command("sweep")
@handle_errors
def sweep_cmd(
    spec: Annotated[Path, typer.Argument(help="Sweep specification TOML (experiments and/or a parameter grid).")],
    backend: BackendOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    out: Annotated[
        Path | None, typer.Option(help="Write runs.csv, summary.csv (+ experiment PNGs) here. " + OUT_HELP)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a parameter sweep of federations locally, on Dask or on Ray (same numbers per seed)."""
    from peergrid.core.errors import ConfigError
    from peergrid.federation.experiments import EXPERIMENTS, ExperimentResult, assess, plot_experiment
    from peergrid.federation.sweep import BACKENDS, load_spec, run_spec, spec_tasks

    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if out is not None:
        check_output_dir(out)
    sp, base_dir = load_spec(spec)
    total = len(spec_tasks(sp, base_dir, str(spec)))
    stages = Stages(enabled=not as_json)
    with stages:
        stages.start(f"sweep {sp.name}: {total} runs on {backend}", total=total)
        res = run_spec(
            sp, base_dir, backend, address, workers, lambda done, _total: stages.advance(done), str(spec)
        )
    findings = {}
    for key in dict.fromkeys(res.summary["experiment"]):
        if key in EXPERIMENTS:
            findings[key] = assess(key, res.summary[res.summary["experiment"] == key])
    payload: dict[str, Any] = {
        "sweep": sp.name,
        "backend": backend,
        "tasks": res.tasks,
        "seeds": sp.seeds,
        "seconds": round(res.seconds, 3),
        "points": json.loads(res.summary.to_json(orient="records", double_precision=6)),
        "findings": findings,
    }
    if out is not None:
        stages.start("writing results")
        with stages, output_dir(out, command="peergrid sweep") as tmp:
            res.rows.to_csv(tmp / "runs.csv", index=False)
            res.summary.to_csv(tmp / "summary.csv", index=False)
            for key in findings:
                sub = res.summary[res.summary["experiment"] == key]
                er = ExperimentResult(
                    EXPERIMENTS[key],
                    res.rows[res.rows["experiment"] == key],
                    sub,
                    findings[key],
                    sp.seeds,
                    res.seconds,
                    backend,
                )
                plot_experiment(er).savefig(tmp / f"experiment_{key}.png", dpi=120)
            (tmp / "summary.json").write_text(json.dumps(payload, indent=2, allow_nan=False, default=_default))
        payload["out"] = str(out)
    if as_json:
        _dump(payload)
        return
    con = _console()
    con.print(f"sweep {sp.name}: {res.tasks} runs on {backend} in {res.seconds:.1f} s")
    for key, a in findings.items():
        con.print(f"experiment {key}: {a['finding']} — {a['verdict']}: {a['reason']}")
    if out is not None:
        con.print(f"results: {out}")
