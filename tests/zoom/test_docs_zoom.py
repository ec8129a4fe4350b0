"""docs/zoom.md: the Python examples run as written (all blocks share one namespace)."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "zoom.md"


def test_zoom_doc_examples_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 5
    ns: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), ns)
    out = capsys.readouterr().out
    assert "SF7 56.576 ms, SF12 1318.912 ms" in out
    assert "members per VMG" in out and "OPEX" in out and "mae_federated" in out
    assert ns["zoom_cost"].opex < ns["flat_cost"].opex
    # zooming changed the radio: after zoom 9 no device the gateways cover is above SF9
    cfg = ns["cfg"]
    assert "zoom 9: SF7..12" in out and cfg.sf[cfg.in_zoom].max() <= 9
    assert "spearman" in out and "combined" in out
