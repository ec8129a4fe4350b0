"""Run every paper's full reproduction and write its section of docs/reproduce.md.

    python scripts/reproduce_all.py                    # all registered papers, full size (minutes)
    python scripts/reproduce_all.py --papers petri,tooki
    python scripts/reproduce_all.py --check            # docs/reproduce.md == the stored claims? (no runs)

Each run stores its record (``Reproduction.to_dict()`` plus the machine's load average) in
``docs/reproduce/<paper>.json`` and rewrites the text between
``<!-- reproduce:<paper>:start -->`` and ``<!-- reproduce:<paper>:end -->`` in
``docs/reproduce.md`` from that record (:func:`peergrid.reproduce.to_markdown`), so the
documented tables and verdicts are exactly the claims' JSON. A paper whose module is not
available is skipped with a note; its section is left as it is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reproduce.md"
STORE = ROOT / "docs" / "reproduce"


def section(record: dict) -> str:
    """The generated Markdown of one paper from its stored record."""
    from peergrid.reproduce import Reproduction, to_markdown

    rep = Reproduction.from_dict(record)
    env = record.get("environment", {})
    head = ""
    if env:
        head = (
            f"*Full run of {env.get('date', '?')} on {env.get('machine', '?')}, load average "
            f"{env.get('load_average', '?')} before the run (the machine is shared: timings vary).*\n\n"
        )
    return head + to_markdown(rep, heading="####")


def render(doc: str, papers: list[str]) -> str:
    """``doc`` with every stored paper's section between its markers regenerated."""
    for key in papers:
        path = STORE / f"{key}.json"
        if not path.is_file():
            continue
        body = section(json.loads(path.read_text(encoding="utf-8")))
        start, end = f"<!-- reproduce:{key}:start -->", f"<!-- reproduce:{key}:end -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if not pattern.search(doc):
            raise SystemExit(f"docs/reproduce.md has no {start} … {end} markers")
        text = f"{start}\n{body}{end}"
        doc = pattern.sub(lambda _m, t=text: t, doc)
    return doc


def _environment() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "load_average": " / ".join(f"{v:.2f}" for v in load),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    from peergrid.core.errors import ConfigError
    from peergrid.reproduce import PAPERS, run_paper

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", default=",".join(PAPERS), help="comma-separated paper keys (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="only check docs/reproduce.md against the stored records")
    args = ap.parse_args(argv)
    papers = [p.strip() for p in args.papers.split(",") if p.strip()]
    unknown = [p for p in papers if p not in PAPERS]
    if unknown:
        ap.error(f"unknown paper(s) {', '.join(unknown)}; choose from {', '.join(PAPERS)}")
    doc = DOC.read_text(encoding="utf-8")
    if args.check:
        fresh = render(doc, papers)
        if fresh != doc:
            print("docs/reproduce.md differs from docs/reproduce/*.json: run scripts/reproduce_all.py", file=sys.stderr)
            return 1
        print("docs/reproduce.md matches the stored claims")
        return 0
    STORE.mkdir(parents=True, exist_ok=True)
    for key in papers:
        env = _environment()
        print(f"{key}: running the full reproduction (load average {env['load_average']}) …", flush=True)
        try:
            rep = run_paper(key, quick=False, seed=args.seed, progress=lambda s: print(f"  {s}", flush=True))
        except ConfigError as exc:
            print(f"{key}: skipped ({exc})")
            continue
        record = {**rep.to_dict(), "environment": env}
        (STORE / f"{key}.json").write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        counts = ", ".join(f"{n} {v}" for v, n in rep.counts().items())
        print(f"{key}: {counts} in {rep.seconds:.1f} s")
        doc = render(DOC.read_text(encoding="utf-8"), [key])
        DOC.write_text(doc, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
