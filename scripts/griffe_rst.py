"""Griffe extension of the docs site: Sphinx/RST markup in docstrings shown as Markdown.

peergrid's NumPy-style docstrings use a few reStructuredText constructs (they read well in
``help()`` and in editors). mkdocstrings renders Markdown, where they would appear verbatim
(``:func:`` before a name, ``.. math::``, ``[Liu2017]_``). This extension rewrites them in
the docstring text handed to the renderer — the source is not touched:

* ``:func:`~peergrid.market.clear``` (any role) → ```clear```; without ``~`` the full name;
* ``.. math::`` → ``Formula:`` (the indented block below it renders as code, a formula on
  the same line as inline code);
* ``.. [Key] text`` (reference definitions) → ``[Key] text``; ``[Key]_`` citations → ``[Key]``.

Configured in mkdocs.yml under the python handler's ``extensions``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const|math|term|ref|doc|envvar):`([^`]+)`")
REFERENCE_DEFINITION = re.compile(r"^(\s*)\.\. (\[[^\]]+\])", re.M)
CITATION = re.compile(r"(\[[A-Za-z][\w.-]*\d{4}[a-z]?\]|\[\d+\])_")
MATH_DIRECTIVE = re.compile(r"^([ \t]*)\.\. math::[ \t]*(.*)$", re.M)


def _role(match: re.Match[str]) -> str:
    target = match.group(1)
    if "<" in target and target.endswith(">"):  # :func:`text <target>`
        return f"`{target.split('<', 1)[0].strip()}`"
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def _math(match: re.Match[str]) -> str:
    formula = match.group(2).strip()
    return f"{match.group(1)}Formula:" + (f" `{formula}`" if formula else "")


def rst_to_markdown(text: str) -> str:
    """Docstring text with the RST constructs above replaced by Markdown.

    Parameters
    ----------
    text : str
        A docstring.

    Returns
    -------
    str
        The same docstring for a Markdown renderer.
    """
    text = ROLE.sub(_role, text)
    text = MATH_DIRECTIVE.sub(_math, text)
    text = REFERENCE_DEFINITION.sub(r"\1\2", text)
    return CITATION.sub(r"\1", text)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring once the object tree is built."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
