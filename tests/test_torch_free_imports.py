"""What must not pull torch in: the validator and the verdicts it shares with the harness (a
reviewer's `accelbench validate` starts in well under a second), and the parts of the run a
non-torch kind builds on (its context, the shared verdicts and metrics)."""

import subprocess
import sys

import pytest

TORCH_FREE = [
    "accelbench.validation.validator",
    "accelbench.judging.verdict",
    "accelbench.judging.quality",
    "accelbench.results.layout",
    "accelbench.contracts.context",
]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_without_torch(module):
    probe = f"import sys, {module}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", f"importing {module} imports torch"
