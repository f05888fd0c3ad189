"""Grid geometry: grid points on the unit sphere and the regular global grid (numpy only).

Shared by the climate modality (the base's fixed inputs) and the climate training sampler, so a
field is seen on the same points at training and at coding time.
"""

from __future__ import annotations

import numpy as np


def sphere_inputs(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Grid points on the unit sphere, float32 (*lat.shape, 3), from latitudes and longitudes in degrees.

    Continuous across the date line and single-valued at the poles.
    """
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=-1).astype(np.float32)


def global_grid(ny: int, nx: int) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes (ny,) north to south, poles included, and longitudes (nx,) from 0 deg E of a regular global grid."""
    return np.linspace(90.0, -90.0, ny), np.arange(nx) * (360.0 / nx)
