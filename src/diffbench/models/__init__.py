"""Models: builders, the autoencoder registry, and diffusers-format save/load."""
