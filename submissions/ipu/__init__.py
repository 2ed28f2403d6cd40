"""The Graphcore IPU system: PopTorch 3.4 from the Poplar SDK 3.4 (torch 2.0.1, Python 3.10).

Neither PopTorch nor PopDist is on PyPI, and no IPU is reachable from the machines this suite is
developed on: nothing in this package has run on an IPU yet. The parts that do not need
poptorch are plain Python and are tested on CPU; the calls into the SDK sit in one thin module
per workload, checked against the PopTorch 3.4 sources and documentation.
"""
