"""Issue 24, finding 7: the docs show what the tools print today."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_dsl_validation_example_is_what_the_cli_prints(tmp_path: Path) -> None:
    doc = (ROOT / "docs/dsl.md").read_text()
    part = doc[doc.index("Validation reports **every** problem") :]
    document = re.search(r"```json\n(.*?)```", part, re.DOTALL)
    shown = re.search(
        r"```text\n\$ pipeline-engine validate broken.json\n(.*?)```", part, re.DOTALL
    )
    assert document and shown
    (tmp_path / "broken.json").write_text(document.group(1))
    done = subprocess.run(
        [sys.executable, "-m", "pipeline_engine.cli", "validate", "broken.json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout + done.stderr == shown.group(1)
    assert "✗" not in doc


def test_readme_examples_use_the_exports_make_run_printed() -> None:
    readme = (ROOT / "README.md").read_text()
    rest = readme[readme.index("## REST") : readme.index("## Python SDK")]
    sdk = readme[readme.index("## Python SDK") : readme.index("### Testing your code offline")]
    for section in (rest, sdk):
        for code in re.findall(r"```(?:bash|python)\n(.*?)```", section, re.DOTALL):
            assert "127.0.0.1:8000" not in code and "export PIPELINE_ENGINE_URL=" not in code
    assert "PipelineClient()" in sdk  # the URL and token from the exports
    # every event to the terminal one is shown before the client closes
    block = re.search(r"```python\n(.*?)```", sdk, re.DOTALL)
    assert block and "subscription.wait(" in block.group(1)
