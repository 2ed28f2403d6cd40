"""The verdicts the harness and the validator must reach the same way: metrics, the target comparison, the olympic score."""
