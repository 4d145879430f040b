"""Training machinery of the generative models: what the autoencoder, VAE and GANs share."""
