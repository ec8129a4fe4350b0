"""The documentation site builds with ``mkdocs build --strict``, offline, and covers the API.

Strict mode turns every warning into a failure: a broken link or anchor between pages, a
page missing from the nav, and griffe's docstring warnings (a documented parameter that is
not in the signature, a malformed NumPy section) in the API reference.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# packages whose public API (``__all__``) has a reference page
PACKAGES = ["core", "data", "simulate", "market", "metrics", "control", "assets", "grid", "forecast",
            "federation", "zoom", "report"]


def _config() -> dict:
    # mkdocs.yml has no !!python tags; the plain loader reads it
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "NO_MKDOCS_2_WARNING": "1",
        # anything that tried the network would fail fast instead of fetching
        "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
    }
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"mkdocs build --strict: {time.perf_counter() - t0:.1f} s")
    return out


def test_docs_site_config_is_offline():
    cfg = _config()
    assert cfg["theme"]["name"] == "material"
    assert cfg["theme"]["font"] is False, "material would load Google Fonts"
    plugins = [p if isinstance(p, str) else next(iter(p)) for p in cfg["plugins"]]
    assert set(plugins) <= {"search", "mkdocstrings"}, plugins  # no social/privacy/… plugin fetching
    assert cfg.get("strict") is True
    assert "extra_javascript" not in cfg and "extra_css" not in cfg


def test_docs_site_builds_strict_and_offline(site):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    for page in ["index.html", "examples.html", "references.html", "markets.html", "service.html",
                 "reference/service.html", *(f"reference/{p}.html" for p in PACKAGES)]:
        assert page in pages
    external = re.compile(r'<(?:link|script|img)[^>]+(?:href|src)="(?:https?:)?//', re.I)
    for page in site.rglob("*.html"):
        assert not external.search(page.read_text()), f"{page.name} loads an external resource"


def test_docs_site_every_markdown_page_is_in_the_nav():
    """Reference pages and the fixed pages are listed; a new guide docs/X.md is appended by the hook."""
    def files(node) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [f for v in node.values() for f in files(v)]
        return [f for v in node for f in files(v)]

    in_nav = set(files(_config()["nav"]))
    on_disk = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert {p for p in on_disk - in_nav if "/" in p} == set(), "reference pages must be in the nav"
    assert {"index.md", "examples.md"} <= in_nav  # generated from README.md and examples/


def test_docs_site_api_reference_renders_the_public_api(site):
    import importlib

    for name in PACKAGES:
        module = importlib.import_module(f"peergrid.{name}")
        html = (site / "reference" / f"{name}.html").read_text()
        # a function shadowed by a submodule of the same name is documented under its full path
        # (or, when it is defined in the package itself, by hand under its name)
        missing = [obj for obj in module.__all__
                   if callable(getattr(module, obj)) and f'id="peergrid.{name}.{obj}"' not in html
                   and f'id="{getattr(module, obj).__module__}.{obj}"' not in html
                   and f"<code>peergrid.{name}.{obj}</code><a" not in html]
        assert not missing, f"peergrid.{name}: {missing} not in the API reference"
    for page in (site / "reference").glob("*.html"):  # RST markup rewritten by scripts/griffe_rst.py
        html = page.read_text()
        assert not re.search(r":(?:func|class|mod|meth|attr|data|math):<code>|\]_|\.\. math::", html), page.name
    html = (site / "reference" / "metrics.html").read_text()
    assert "Lange eq. 6" in html  # docstrings come through, NumPy sections rendered as tables
    assert "doc-section" in html or "Parameters" in html


def test_docs_site_home_is_the_readme_with_site_links(site):
    html = (site / "index.html").read_text()
    assert "Quick start" in html
    assert 'href="markets.html"' in html and 'href="docs/' not in html


def test_docs_site_unlisted_guide_gets_into_the_nav(site):
    """A guide added to docs/ without a nav entry still builds under --strict and is linked."""
    listed = set()

    def walk(node):
        if isinstance(node, str):
            listed.add(node)
        elif isinstance(node, dict):
            for v in node.values():
                walk(v)
        else:
            for v in node:
                walk(v)

    walk(_config()["nav"])
    index = (site / "index.html").read_text()
    for path in (ROOT / "docs").glob("*.md"):
        if path.name not in listed:
            assert f'href="{path.stem}.html"' in index, path.name


def test_docs_site_gallery_shows_every_example(site):
    html = (site / "examples.html").read_text()
    for path in sorted((ROOT / "examples").glob("*.py")):
        assert f"examples/{path.name}" in html
