"""docs/scale.md: the example runs (at 300 instead of 10,000 households, to keep the suite fast)."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale.md"


def test_scale_doc_example_runs(capsys):
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)[0]
    assert "10_000" in code
    exec(compile(code.replace("10_000", "300"), str(DOC), "exec"), {})  # our own docs
    ss, n = capsys.readouterr().out.split()
    assert 0.0 < float(ss) < 1.0 and int(n) == 300
