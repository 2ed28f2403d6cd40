"""Vendor submissions, one folder per system (a100/, ipu/); the cpu system is the reference."""
