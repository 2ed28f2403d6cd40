"""neuron_inverter: infer 15 conductances of a simulated neuron from its voltage traces."""
