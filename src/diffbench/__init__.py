"""diffbench: latent vs pixel-space diffusion benchmark."""
