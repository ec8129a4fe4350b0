"""``peergrid simulate`` for scenarios with a ``[region]`` table (docs/region.md).

Thin, in the style of :mod:`peergrid.cli.main`: validate the options before any work
(a malformed ``--scheduler`` fails at once with one line and exit code 2), show the
communities' progress on a terminal, print the region table (or one JSON object under
``--json``) and write the tidy tables to ``--out`` through :func:`peergrid.core.output.output_dir`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from peergrid.core.errors import ConfigError
from peergrid.metrics import metric_label

__all__ = ["REGION_COLUMNS", "check_backend", "run_region"]

#: (heading, key) of the region table printed without ``--json``.
REGION_COLUMNS: tuple[tuple[str, str], ...] = (
    (f"{metric_label('self_sufficiency')} (communities) %", "self_sufficiency"),
    (f"{metric_label('self_sufficiency')} (region) %", "region_self_sufficiency"),
    ("Inter-community trade kWh", "inter_traded_kwh"),
    ("Cost (communities) {currency}", "community_cost"),
    ("Cost (region) {currency}", "region_cost"),
    ("Region cost reduction %", "region_cost_reduction"),
    (f"{metric_label('peak_import_kw')} (region) kW", "region_peak_import_kw"),
)


def check_backend(backend: str, scheduler: str | None, workers: int | None) -> None:
    """Refuse bad ``--backend`` / ``--scheduler`` / ``--workers`` before any work (one-line ConfigError)."""
    from peergrid.simulate.region import BACKENDS

    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend!r}: choose from {', '.join(BACKENDS)}")
    if backend == "local" and (scheduler is not None or workers is not None):
        raise ConfigError("--scheduler and --workers apply to --backend dask")
    if scheduler is not None and workers is not None:
        raise ConfigError("--workers sizes a local Dask cluster; an external --scheduler has its own workers")
    if scheduler is not None:
        from peergrid.core.cluster import check_address

        check_address(scheduler)


def _quick(sc: Any) -> Any:
    """``sc`` shortened to the first :data:`peergrid.cli._common.QUICK_DAYS` days."""
    from peergrid.cli._common import QUICK_DAYS
    from peergrid.simulate.scenario import TimeConfig

    try:
        n = sc.time.n_periods()
    except ValueError as exc:
        raise ConfigError(f"[time]: {exc}") from None
    steps = max(1, round(24 * QUICK_DAYS * 3600 / sc.time.step.total_seconds()))
    if n <= steps:
        return sc
    data = {k: v for k, v in sc.time.model_dump().items() if k in sc.time.model_fields_set and k != "days"}
    return sc.model_copy(update={"time": TimeConfig(**data, periods=steps)})


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if key.endswith(("self_sufficiency", "reduction")):
        return f"{100 * value:.1f}"
    return f"{value:,.1f}"


def run_region(
    scenario: Path,
    *,
    out: Path | None,
    markets: str | None,
    quick: bool,
    seed: int | None,
    bidding: str | None,
    as_json: bool,
    backend: str,
    scheduler: str | None,
    workers: int | None,
) -> dict:
    """Run a ``[region]`` scenario for ``peergrid simulate`` and print / write its results.

    Returns
    -------
    dict
        The JSON payload (:meth:`peergrid.simulate.region.RegionResult.summary`, plus ``"out"``).
    """
    from peergrid.cli._common import (
        out_name,
        parse_markets,
        print_json,
        reseed,
        resolve_out,
        scenario_markets,
        with_bidding,
    )
    from peergrid.cli.ui import Stages, out_console, print_fitted
    from peergrid.core.output import check_output_dir, output_dir
    from peergrid.simulate._common import drop_none
    from peergrid.simulate.region import RegionSpec, simulate_region
    from peergrid.simulate.scenario import load_scenario

    sc = load_scenario(scenario)
    if seed is not None:
        sc = reseed(sc, seed)
    names = scenario_markets(sc) if markets is None else parse_markets(markets)
    sc = with_bidding(sc, bidding, names)
    if quick:
        sc = _quick(sc)
    target = resolve_out(out, out_name(sc, scenario), as_json)
    if target is not None:
        check_output_dir(target)
    path = scenario.resolve()  # workers on other machines resolve relative files against the same directory
    spec = RegionSpec(sc, tuple(names), str(path.parent), str(scenario))
    where = "here" if backend == "local" else (scheduler or f"a local Dask cluster of {workers or 2} workers")
    with Stages(enabled=not as_json) as stages:
        stages.start(
            f"region {sc.name}: {spec.communities:,} communities × {spec.homes:,} homes on {where}",
            total=spec.communities,
        )
        result = simulate_region(
            spec, backend, scheduler, workers, progress=stages.advance,  # type: ignore[arg-type]
            on_stage=stages.start,
        )  # fmt: skip
        payload = result.summary()
        if target is not None:
            stages.start("writing results")
            with output_dir(target, command="peergrid simulate") as tmp:
                result.write(tmp)
                record = {**payload, "definition": drop_none(sc.model_dump(mode="json"))}
                (tmp / "summary.json").write_text(json.dumps(record, indent=2, allow_nan=False))
            payload["out"] = str(target)
    if as_json:
        print_json(payload)
        return payload
    currency = result.currency
    fields = [label.format(currency=currency) for label, _ in REGION_COLUMNS]
    records = [(m, [_fmt(k, v.get(k)) for _, k in REGION_COLUMNS]) for m, v in payload["markets"].items()]
    r = payload["region"]
    print_fitted(
        f"Region: {r['communities']:,} × {r['homes_per_community']:,} homes, inter-community {r['inter_market']}",
        "market", fields, records,
    )  # fmt: skip
    con = out_console()
    where = f"{backend} ({scheduler})" if scheduler else backend
    con.print(f"{r['seconds']:.1f} s on {where}", highlight=False, soft_wrap=True)
    if target is not None:
        tables = "communities.parquet, region.parquet, steps.parquet"
        con.print(f"results: {target}/{tables}", highlight=False, soft_wrap=True)
    return payload
