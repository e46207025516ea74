"""PSNR/SSIM of reconstructions (torchmetrics); the reconstructions come from models.autoencoders.

LPIPS and rFID of the same pairs come from metrics.lpips and the Fréchet distance of features.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr_ssim(original: np.ndarray, reconstructed: np.ndarray) -> dict:
    """Mean PSNR (dB) and SSIM over images, on uint8 values (data range 255)."""
    x = torch.from_numpy(original).permute(0, 3, 1, 2).double()
    y = torch.from_numpy(reconstructed).permute(0, 3, 1, 2).double()
    psnr = peak_signal_noise_ratio(y, x, data_range=255.0, reduction="none", dim=(1, 2, 3))
    # SSIM's 11x11 Gaussian window needs images of at least 11 px; smaller ones use a smaller odd window.
    window = min(11, x.shape[-1] - (1 - x.shape[-1] % 2))
    ssim = structural_similarity_index_measure(y, x, data_range=255.0, kernel_size=window, reduction="none")
    return {"psnr_db": float(psnr.mean()), "ssim": float(ssim.mean()), "ssim_window": window, "num_images": len(x)}
