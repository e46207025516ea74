"""Training library: the optimisation loop and its budget, the denoiser's loss and the data it
learns from (diffusion_loss), the first-stage autoencoder's losses, encoding to latents, resumable
checkpoints, and the files a training stage writes (outputs). The stages that run them are
diffbench.stages.train."""
