"""snn_bptt: spiking networks trained through time on Randman-style spike rasters."""
