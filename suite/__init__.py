"""accelbench: MLPerf-style benchmarks of accelerators on scientific workloads.

Kept free of imports and side effects: `pytest suite` imports this file a second time
under the name `suite`, so everything real lives in submodules imported as `accelbench.…`.
"""

__version__ = "0.1.0"
