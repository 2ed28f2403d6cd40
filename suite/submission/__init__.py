"""A submission tree: its layout and manifest, the system descriptions, and packaging results into it."""
