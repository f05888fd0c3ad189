"""The network and its fit (JAX): config, SIREN, latent pyramid, rate, objective, encoder fit, synthesis, bases."""
