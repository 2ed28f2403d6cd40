"""The suite's own conftest: pytest loads it when `pytest suite ...` names this folder, and
only then, so the suite's options (--device, --scale, --seed, --key, ...) and hooks exist for
the suite's sessions alone. The hooks live in `accelbench.plugin`; pytest finds them here by
name."""

from accelbench.plugin import (  # noqa: F401
    benchmark_set,
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_generate_tests,
    pytest_pyfunc_call,
    pytest_terminal_summary,
)
