"""Energy of the timed region: power meters, one interface, and the sampler that reads them.

Kept free of imports: callers import the module they need (`accelbench.energy.selection`,
`accelbench.energy.sampler`, ...), so that importing the package never loads NVML or the
Graphcore tools.
"""
