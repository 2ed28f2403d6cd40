"""mcmc_alpha: Bayesian neural-network alpha estimation sampled with Hamiltonian Monte Carlo."""
