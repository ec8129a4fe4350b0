"""mkdocs hooks of the peergrid site (configured in mkdocs.yml; run by ``mkdocs build``).

* ``index.md`` is generated from ``README.md`` (one source for both); links to ``docs/X.md``
  become site links ``X.md`` and links to repository files outside ``docs/`` are left as code.
* ``examples.md`` is the gallery: every ``examples/*.py`` with its docstring as prose and its
  full source, generated at build time so that a new example appears without editing a page.

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


def on_files(files: Files, config) -> Files:
    """Add the generated pages ``index.md`` (from README.md) and ``examples.md``."""
    readme = readme_markdown((ROOT / "README.md").read_text())
    files.append(File.generated(config, "index.md", content=readme))
    files.append(File.generated(config, "examples.md", content=gallery_markdown()))
    return files
