"""The docs site's griffe extension shows the docstrings' RST markup as Markdown."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("griffe_rst", ROOT / "scripts" / "griffe_rst.py")
griffe_rst = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(griffe_rst)


def test_docs_griffe_rst_roles():
    f = griffe_rst.rst_to_markdown
    assert f("see :func:`peergrid.market.clear`.") == "see `peergrid.market.clear`."
    assert f("see :class:`~peergrid.Community`") == "see `Community`"
    assert f(":meth:`OrderBook.select <peergrid.market.OrderBook.select>`") == "`OrderBook.select`"
    assert f(":py:attr:`x`, :math:`a^2`") == "`x`, `a^2`"


def test_docs_griffe_rst_math_and_references():
    f = griffe_rst.rst_to_markdown
    assert f("    .. math:: E = P t\n") == "    Formula: `E = P t`\n"
    assert f("Text.\n\n.. math::\n\n    x = 1\n") == "Text.\n\nFormula:\n\n    x = 1\n"
    assert f("SDR ([Liu2017]_; Lange eqs. 2–4) [1]_") == "SDR ([Liu2017]; Lange eqs. 2–4) [1]"
    assert f(".. [Liu2017] N. Liu et al.") == "[Liu2017] N. Liu et al."
    assert f("a[i]_j and x_ and [x]") == "a[i]_j and x_ and [x]"  # not citations: left alone


def test_docs_griffe_rst_is_configured():
    """The built site itself is checked for leftover markup in test_docs_site.py."""
    cfg = (ROOT / "mkdocs.yml").read_text()
    assert "scripts/griffe_rst.py:RstToMarkdown" in cfg
