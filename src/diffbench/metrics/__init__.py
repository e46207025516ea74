"""Metrics as pure functions over features or images, returning records defined once (dataclasses
such as KernelDistance, Interval, Curve, Savings): Fréchet distance and FID at infinity (frechet),
KID as the all-pairs U-statistic with its jackknife (kid), precision/recall, LPIPS diversity,
autoencoder reconstruction, interval estimators over image groups and seeds (intervals), Holm's
correction (multiplicity), and the savings factor and crossover of quality-vs-compute curves (curves)."""
