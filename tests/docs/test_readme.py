"""The README's offline example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_offline_example_runs() -> None:
    marker = "<!-- the block below is run by tests/docs/test_readme.py -->"
    after = README.split(marker, 1)[1]
    block = re.search(r"```python\n(.*?)```", after, flags=re.DOTALL)
    assert block is not None
    exec(compile(block.group(1), "README.md", "exec"), {"__name__": "readme_example"})


def test_quick_start_is_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.search(r"```bash\n(.*?)```", quick, flags=re.DOTALL)
    assert commands is not None
    lines = [line.split("#")[0].strip() for line in commands.group(1).splitlines() if line.strip()]
    assert lines == ["make run", "make test"]
