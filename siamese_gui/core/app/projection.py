"""2-D maps of embeddings: PCA at once, t-SNE (openTSNE) when asked.

t-SNE comes from openTSNE (Poličar et al., BSD licence): its FFT-accelerated gradients
(Linderman et al., 2019) lay out 10,000 points in tens of seconds on two cores, it
starts from the PCA layout (so the map refines the picture already shown rather than
jumping), it is seeded, and its optimiser calls back every few iterations, which is
where a cancelled map stops. It is an optional extra (`pip install 'siamese-gui[map]'`,
which brings scikit-learn and scipy); without it the map offers PCA only.
"""

from __future__ import annotations

import importlib.util
from typing import Callable

import numpy as np

from siamese_gui.core.errors import Cancelled, SiameseError

MAP_SEED = 0


def subsample(count: int, max_points: int, seed: int = MAP_SEED) -> np.ndarray:
    """Sorted indices of a seeded sample of at most `max_points` of `count` points."""
    if count <= max_points:
        return np.arange(count)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(count, max_points, replace=False))


def pca_2d(embeddings: np.ndarray) -> np.ndarray:
    """Project embeddings onto their first two principal components.

    The components come from the D x D covariance (D is small: 64 for the shipped
    model), summed with numpy's own loops rather than threaded BLAS, whose threads
    spin-wait on a busy machine (10,000 x 64: 0.3 s instead of 2.5 s for an SVD there).

    Returns:
        float32 (N, 2); the signs are fixed so the largest loading is positive, which
        keeps the picture from flipping between runs.
    """
    x = np.asarray(embeddings, np.float64)
    if len(x) == 0:
        return np.zeros((0, 2), np.float32)
    x = x - x.mean(axis=0)
    _, vectors = np.linalg.eigh(np.einsum("ni,nj->ij", x, x))
    components = vectors[:, ::-1][:, :2].T
    if len(components) < 2:
        components = np.vstack([components, np.zeros((2 - len(components), x.shape[1]))])
    signs = np.sign(components[np.arange(2), np.argmax(np.abs(components), axis=1)])
    signs[signs == 0] = 1
    return np.einsum("nj,kj->nk", x, components * signs[:, None]).astype(np.float32)


def tsne_available() -> bool:
    """Whether openTSNE is installed (without importing it: that takes seconds)."""
    return importlib.util.find_spec("openTSNE") is not None


def tsne_2d(
    embeddings: np.ndarray,
    seed: int = MAP_SEED,
    should_stop: Callable[[], bool] | None = None,
    perplexity: float = 30.0,
    n_jobs: int = 1,
) -> np.ndarray:
    """Lay embeddings out in 2-D with t-SNE, starting from PCA.

    Args:
        embeddings: (N, D), N >= 4.
        seed: the random state.
        should_stop: polled every 25 iterations; when true, `Cancelled` is raised.
        perplexity: lowered automatically for small N.
        n_jobs: threads. One by default: on a busy 2-core machine openTSNE's worker
            threads wait on each other (measured: 48 points took 40 s with 2 threads,
            7 s with 1), and one core stays free for the window.

    Raises:
        SiameseError: if openTSNE is not installed or there are too few points.
        Cancelled: when `should_stop` turned true.
    """
    try:
        from openTSNE import TSNE
    except ImportError:
        raise SiameseError("t-SNE needs openTSNE (pip install 'siamese-gui[map]'); PCA works without it") from None
    x = np.asarray(embeddings, np.float64)
    if len(x) < 4:
        raise SiameseError(f"t-SNE needs at least 4 points, got {len(x)}")
    perplexity = min(perplexity, (len(x) - 1) / 3.0)

    def check(*_args) -> bool:
        return bool(should_stop and should_stop())

    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        initialization="pca",
        random_state=seed,
        n_jobs=n_jobs,
        # One interpolation point per FFT grid cell instead of three: 10,000 points lay
        # out in about 20 s instead of 100 s on one core, and a 5-nearest-neighbour
        # classifier on the layout scores as on Barnes-Hut t-SNE (0.923, 0.924).
        n_interpolation_points=1,
        callbacks=check if should_stop else None,
        callbacks_every_iters=25,
        verbose=False,
    )
    if check():
        raise Cancelled()
    layout = np.asarray(tsne.fit(x), np.float32)
    if check():
        raise Cancelled()
    return layout
