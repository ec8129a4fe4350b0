"""No module imports another module's private names: shared helpers live in a package's ``_common.py``.

A name that starts with ``_`` is private to its module; what several modules need is a public name,
either in the ``_common`` module of the lowest package that uses it or in the module it belongs to.
Private *modules* (``_common``, ``_kernels``, ``_netbook``, ``_pp``) may be imported whole or by their
public names.
"""

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _private_imports() -> list[str]:
    found = []
    for path in sorted((SRC / "peergrid").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("peergrid"):
                for alias in node.names:
                    name = alias.name
                    if not name.startswith("_") or name.startswith("__"):
                        continue
                    if (SRC / Path(*node.module.split("."), name)).with_suffix(".py").is_file():
                        continue  # a private module of that package, imported whole
                    where = f"{path.relative_to(SRC)}:{node.lineno}"
                    found.append(f"{where}: from {node.module} import {name}")
    return found


def test_no_module_imports_a_private_name_of_another():
    assert _private_imports() == []


def test_the_scan_finds_a_private_import(tmp_path, monkeypatch):
    pkg = tmp_path / "peergrid" / "a"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text("def _helper():\n    pass\n")
    (pkg / "_kern.py").write_text("")
    (pkg / "y.py").write_text("from peergrid.a.x import _helper\nfrom peergrid.a import _kern\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    assert _private_imports() == ["peergrid/a/y.py:1: from peergrid.a.x import _helper"]
