"""Training stages: the first-stage autoencoder and the diffusion UNet."""
