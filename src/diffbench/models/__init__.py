"""Models: UNet and autoencoder builders, the autoencoder registry, the model sampling uses
(diffusion_model); loading and saving them is diffbench.sampling.pipeline_io."""
