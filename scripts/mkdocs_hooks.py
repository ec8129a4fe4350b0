"""mkdocs hooks of the peergrid site (configured in mkdocs.yml; run by ``mkdocs build``).

* ``index.md`` is generated from ``README.md`` (one source for both); links to ``docs/X.md``
  become site links ``X.md`` and links to repository files outside ``docs/`` are left as code.
* ``examples.md`` is the gallery: every ``examples/*.py`` with its docstring as prose and its
  full source, generated at build time so that a new example appears without editing a page.
* a guide ``docs/*.md`` that the nav of mkdocs.yml does not list yet is appended to its
  "Guides" section (title: the page's first heading), so a new guide is never left out.

Neither hook reaches the network.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def readme_markdown(text: str) -> str:
    """README.md rewritten for the site: ``](docs/x.md)`` → ``](x.md)``.

    Parameters
    ----------
    text : str
        The README's Markdown.

    Returns
    -------
    str
        Markdown whose links resolve inside the site.
    """
    text = re.sub(r"\]\(docs/([^)]+)\)", r"](\1)", text)
    # a link to another repository file (LICENSE, scripts/...) is not a page: show the path
    return re.sub(r"\[([^\]]+)\]\((?!https?://|#)([^)]+?)(?<!\.md)(#[^)]*)?\)", r"`\2`", text)


def example_docstring(path: Path) -> tuple[str, str]:
    """Title (first docstring line) and body (the rest) of an example script."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or path.stem
    title, _, body = doc.partition("\n")
    return title.strip().rstrip("."), body.strip()


def gallery_markdown() -> str:
    """The gallery page: one section per ``examples/*.py``, sorted by file name."""
    parts = [
        "# Examples",
        "",
        "Short scripts that run as they are (each in a few seconds, on the data shipped with",
        "peergrid, without network access); the test suite runs every one of them. Run one with",
        "`python examples/<name>.py` from the repository root; scripts that write files write",
        "them into the current directory.",
        "",
    ]
    for path in sorted(EXAMPLES.glob("*.py")):
        title, body = example_docstring(path)
        parts += [f"## {title}", "", f"`examples/{path.name}`", ""]
        if body:
            parts += [body, ""]
        parts += ["```python", path.read_text().rstrip(), "```", ""]
    return "\n".join(parts)


def _nav_files(node: object) -> set[str]:
    if isinstance(node, str):
        return {node}
    if isinstance(node, dict):
        return set().union(*(_nav_files(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_nav_files(v) for v in node)) if node else set()
    return set()


def page_title(path: Path) -> str:
    """The first Markdown heading of a page (its file stem if it has none)."""
    for line in path.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


def on_config(config):
    """Append guides missing from the nav to its "Guides" section."""
    nav = config["nav"]
    if not nav:
        return config
    listed = _nav_files(nav)
    missing = [p for p in sorted(Path(config["docs_dir"]).glob("*.md")) if p.name not in listed]
    if missing:
        guides = next((item["Guides"] for item in nav if isinstance(item, dict) and "Guides" in item), None)
        if guides is None:
            guides = []
            nav.insert(1, {"Guides": guides})
        guides.extend({page_title(p): p.name} for p in missing)
    return config


def on_files(files: Files, config) -> Files:
    """Add the generated pages ``index.md`` (from README.md) and ``examples.md``."""
    readme = readme_markdown((ROOT / "README.md").read_text())
    files.append(File.generated(config, "index.md", content=readme))
    files.append(File.generated(config, "examples.md", content=gallery_markdown()))
    return files
