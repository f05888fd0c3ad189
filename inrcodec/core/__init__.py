"""The network and its fit (JAX): config, SIREN, latent pyramid, rate, loss, adaptation, bases."""
