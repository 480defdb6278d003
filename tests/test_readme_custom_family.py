"""The README's "Your own task family" example runs as written, and RL² learns on it."""
from __future__ import annotations

import re
from pathlib import Path

import metarl
from metarl.registry import _FAMILIES

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_custom_family_example(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    section = text[text.index("### Your own task family"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)                       # its run directory goes under tmp_path/runs
    _FAMILIES.pop("coin", None)
    try:
        scope: dict = {}
        exec(compile(code, "README.md", "exec"), scope)
    finally:
        _FAMILIES.pop("coin", None)
    table = capsys.readouterr().out
    assert "rl2" in table and "random" in table
    summary = scope["result"].report.summary
    # always calling the likelier side earns E[max(p, 1 - p)] = 0.75 per call; random earns 0.5
    assert summary["trial_return"] > 5.9, summary["trial_return"]
    assert metarl.make_family("bandit").name == "bandit"
