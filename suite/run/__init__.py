"""Making runs: plan a set, prepare its data, drive each run through its kind's harness loop, sign and write."""
