"""The README's Python code blocks run, in order, as written (Nevergrad's doc-snippet tests are the model)."""
import os
import re

import pytest

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def python_blocks():
    with open(README) as fh:
        text = fh.read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_python_blocks():
    assert len(python_blocks()) >= 3


@pytest.mark.runtime
def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)            # the snippets write runs/ relative to the working directory
    namespace = {"__name__": "readme"}
    for number, block in enumerate(python_blocks(), 1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:          # name the block, keep the traceback
            raise AssertionError(f"README.md python block {number} failed: {exc!r}\n{block}") from exc
