"""Reports read from verified results: the cross-system summary, the weak-scaling report, calibration records, the rules reference."""
