"""The results history: a store over verified results, its queries, comparisons and the pipeline."""
