"""What a run writes: the result models, atomic files, provenance and the energy record."""
