#!/usr/bin/python3
"""Benchmark points for k-means: n rows of d features from k Gaussian blobs of unequal
size and spread (numpy seed 20240611), written as CSV (one column per feature)."""
import sys
import numpy as np

n, d, k, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(20240611)
centers = rng.uniform(-8.0, 8.0, size=(k, d))
spread = rng.uniform(0.8, 2.5, size=k)
weights = rng.dirichlet(np.full(k, 4.0))
labels = rng.choice(k, size=n, p=weights)
x = centers[labels] + rng.normal(size=(n, d)) * spread[labels, None]
np.savetxt(path, x, fmt="%.6f", delimiter=",")
