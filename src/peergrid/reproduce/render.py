"""Prose of a reproduction, rendered from its records: Markdown (docs), HTML (report) and files.

:func:`to_markdown` and :func:`to_html` use :meth:`Claim.sentence` and the claim
fields only, so the documents say exactly what ``claims.json`` says.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import re
from pathlib import Path

from peergrid.reproduce.model import VERDICTS, Reproduction, ReproTable

__all__ = ["markdown_claims_table", "to_html", "to_markdown", "write_reproduction"]

_CLAIM_COLUMNS = ("claim", "paper", "peergrid", "verdict", "reason")


_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _md(text: str) -> str:
    """One table cell / line of Markdown: pipes escaped, every line break a space."""
    return _BREAKS.sub(" ", str(text)).replace("|", "\\|")


def markdown_claims_table(rep: Reproduction) -> str:
    """The claims as a Markdown table (id, claim, paper, peergrid, verdict, reason)."""
    lines = ["| id | " + " | ".join(_CLAIM_COLUMNS) + " |", "|---|" + "---|" * len(_CLAIM_COLUMNS)]
    for c in rep.claims:
        cells = (c.id, c.claim, c.paper_value, c.peergrid_value, f"**{c.verdict}**", c.reason)
        lines.append("| " + " | ".join(_md(x) for x in cells) + " |")
    return "\n".join(lines)


def _md_table(t: ReproTable) -> str:
    lines = [
        f"*{_md(t.title)}*",
        "",
        "| " + " | ".join(_md(c) for c in t.columns) + " |",
        "|" + "---|" * len(t.columns),
    ]
    lines += ["| " + " | ".join(_md(x) for x in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", _md(t.caption)]
    return "\n".join(lines)


def summary_line(rep: Reproduction) -> str:
    """``3 agree, 2 disagree, 1 not comparable`` (from the claims)."""
    n = rep.counts()
    words = {"agrees": "agree", "disagrees": "disagree", "not comparable": "not comparable"}
    return ", ".join(f"{n[v]} {words[v]}" for v in VERDICTS)


def to_markdown(rep: Reproduction, heading: str = "###") -> str:
    """The reproduction as a Markdown section body (for ``docs/reproduce.md``).

    Parameters
    ----------
    rep : Reproduction
    heading : str
        Markdown heading prefix of the sub-sections.
    """
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in rep.timings.items())
    out = [
        f"{rep.citation}",
        "",
        f"**Case.** {_md(rep.case)}",
        "",
        f"**Verdicts:** {summary_line(rep)}. Run: `peergrid reproduce {rep.paper}"
        f"{' --quick' if rep.quick else ''} --seed {rep.seed}` in {rep.seconds:.1f} s ({timing}).",
        "",
        markdown_claims_table(rep),
        "",
    ]
    extras = [c for c in rep.claims if c.case or c.assumptions]
    if extras:
        out += [f"{heading} Cases and assumptions per claim", ""]
        for c in extras:
            parts = [p for p in (c.case and f"case: {c.case}", c.assumptions and f"assumptions: {c.assumptions}") if p]
            out.append(f"- **{c.id}**: " + "; ".join(_md(p) for p in parts))
        out.append("")
    if rep.assumptions:
        out += [f"{heading} Assumptions and remaining differences", ""]
        out += [f"- {_md(a)}" for a in rep.assumptions]
        out.append("")
    for t in rep.tables:
        out += [_md_table(t), ""]
    return "\n".join(out).rstrip() + "\n"


def _esc(v: object) -> str:
    return html.escape(str(v), quote=True)


def _html_table(columns: list[str], rows: list[list[str]], caption: str = "", cls: str = "") -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(x)}</td>" for x in r) + "</tr>" for r in rows)
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    table = f'<table class="{cls}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def to_html(rep: Reproduction, figures: list[tuple[str, bytes, str]] | None = None) -> str:
    """A self-contained HTML page of the reproduction (peergrid report CSS, figures embedded).

    Parameters
    ----------
    rep : Reproduction
    figures : list of (stem, png bytes, caption), optional
    """
    from peergrid import __version__
    from peergrid.report._common import report_css

    generated = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    title = f"peergrid reproduce {rep.paper}"
    rows = [[c.id, c.claim, c.paper_value, c.peergrid_value, c.verdict, c.reason] for c in rep.claims]
    sections = [
        f'<section id="case"><h2>Case</h2><p>{_esc(rep.case)}</p>'
        f"<p class=muted>Verdicts: {_esc(summary_line(rep))}. "
        f"{'--quick run (reduced sizes). ' if rep.quick else ''}Seed {rep.seed}; "
        f"{rep.seconds:.1f} s in total.</p></section>",
        '<section id="claims"><h2>Claims</h2>'
        + _html_table(
            ["id", *_CLAIM_COLUMNS], rows, "Each claim with the paper's figure, peergrid's and the verdict.", "claims"
        )
        + "<ol>"
        + "".join(f"<li>{_esc(c.sentence())}</li>" for c in rep.claims)
        + "</ol></section>",
    ]
    extras = [c for c in rep.claims if c.case or c.assumptions]
    if extras or rep.assumptions:
        items = [
            f"<li><b>{_esc(c.id)}</b>: {_esc('; '.join(p for p in (c.case, c.assumptions) if p))}</li>" for c in extras
        ]
        items += [f"<li>{_esc(a)}</li>" for a in rep.assumptions]
        sections.append(f'<section id="assumptions"><h2>Assumptions</h2><ul>{"".join(items)}</ul></section>')
    if rep.tables:
        sections.append(
            '<section id="tables"><h2>Tables</h2>'
            + "".join(f"<h3>{_esc(t.title)}</h3>" + _html_table(t.columns, t.rows, t.caption) for t in rep.tables)
            + "</section>"
        )
    if figures:
        figs = "".join(
            f'<figure><img src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}" alt="{_esc(cap)}">'
            f"<figcaption>{_esc(cap)} <span class=muted>(also saved as <code>{_esc(stem)}.png</code>)</span>"
            "</figcaption></figure>"
            for stem, data, cap in figures
        )
        sections.append(f'<section id="figures"><h2>Figures</h2>{figs}</section>')
    timings = [[k, f"{v:.2f}"] for k, v in rep.timings.items()]
    sections.append(
        '<section id="timings"><h2>Timings</h2>' + _html_table(["stage", "seconds"], timings) + "</section>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="peergrid {_esc(__version__)}">\n'
        f"<title>{_esc(title)}</title>\n<style>\n{report_css()}</style>\n</head>\n<body>\n<main>\n"
        f"<header><h1>{_esc(title)}</h1><p class=meta>{_esc(rep.citation)}</p></header>\n"
        + "\n".join(sections)
        + f"\n<footer>Generated {generated} by peergrid {_esc(__version__)}; the claims are also in "
        "<code>claims.json</code>.</footer>\n</main>\n</body>\n</html>\n"
    )


def write_reproduction(rep: Reproduction, directory: str | Path) -> dict[str, str]:
    """Write ``claims.json``, ``report.md``, ``report.html`` and the figures (PNG) into ``directory``.

    Returns
    -------
    dict of str to str
        File kind → path.
    """
    from peergrid.report.page import save_figure

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    figs: list[tuple[str, bytes, str]] = []
    for f in rep.figures:
        fig = f.build()
        buf = io.BytesIO()
        save_figure(fig, buf, "png", 110)
        data = buf.getvalue()
        (out / f"{f.stem}.png").write_bytes(data)
        files[f.stem] = str(out / f"{f.stem}.png")
        figs.append((f.stem, data, f.caption))
    (out / "claims.json").write_text(json.dumps(rep.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(f"# peergrid reproduce {rep.paper}\n\n" + to_markdown(rep), encoding="utf-8")
    (out / "report.html").write_text(to_html(rep, figs), encoding="utf-8")
    files.update({k: str(out / n) for k, n in (("json", "claims.json"), ("md", "report.md"), ("html", "report.html"))})
    return files
