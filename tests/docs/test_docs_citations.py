"""Citations name the paper (author, year, equation), never a file outside the repository.

The papers peergrid implements are cited as "Author et al. (year), eq. N" with the full
bibliography in docs/references.md; paths to local copies (``papers.md``, ``papers/000_…``,
``../shared/...``) meant nothing to a reader of the repository.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(r"shared/papers|papers\.md|papers/0\d\d|\.\./shared/")
SCANNED = ["src", "docs", "tests", "scenarios", "examples", "benchmarks", "scripts", "README.md", "mkdocs.yml"]
SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".txt", ".html", ".csv", ".cfg", ".ini"}


def _files():
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())


def test_docs_no_paths_to_paper_copies():
    me = Path(__file__).resolve()
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
            for p in _files() if p.resolve() != me
            for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if FORBIDDEN.search(line)]
    assert not hits, "cite author, title and equation instead:\n" + "\n".join(hits)


def test_docs_references_lists_the_four_papers():
    text = (ROOT / "docs" / "references.md").read_text()
    for author, year in [("Lange", "2025"), ("Tooki", "2025"), ("Petri", "2020"), ("Anoh", "2026")]:
        assert re.search(rf"\*\*{author}[^*]*\({year}\)\.\*\*", text), author


def test_docs_references_equation_table_names_real_functions():
    text = (ROOT / "docs" / "references.md").read_text()
    names = set()
    for line in text.splitlines():
        if line.startswith("|") and ("eq" in line or "Algorithm" in line):
            names.update(re.findall(r"`(peergrid(?:\.\w+)+)`", line.split("|")[-2]))
    assert len(names) >= 25
    for name in sorted(names):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr)
            break


def test_docs_equations_cited_in_code_are_in_the_table():
    """Every "Lange/Tooki/Petri eq. N" cited in a docstring has a row in docs/references.md."""
    table = (ROOT / "docs" / "references.md").read_text()
    rows = re.findall(r"^\| (Lange|Tooki et al\.|Petri et al\.) \(\d{4}\), eqs?\. (\d+)(?:–(\d+))?", table, re.M)
    covered = {(a.split()[0], n) for a, lo, hi in rows for n in range(int(lo), int(hi or lo) + 1)}
    cited = set()
    citation = re.compile(r"(Lange|Tooki|Petri)(?: et al\.)?(?: \(?\d{4}\)?)?,? eqs?\. (\d+)(?:[–-](\d+))?")
    for path in (ROOT / "src").rglob("*.py"):
        for author, lo, hi in citation.findall(path.read_text()):
            cited |= {(author, n) for n in range(int(lo), int(hi or lo) + 1)}
    assert cited, "no citations found: the pattern is wrong"
    assert cited <= covered, sorted(cited - covered)
