"""N-way one-shot accuracy, the protocol of Koch et al.'s Siamese one-shot work.

A trial shows one query image and N support images: one of the query's own class and
one each of N - 1 other classes. The trial is right when the support nearest the query
(Euclidean distance between embeddings) is of the query's class. Where each image has a
*source* (the artist or theme that drew it), the supports all come from one source other
than the query's, as Koch et al. took them from another drawer: the right answer then
has to be recognised across drawers, not found as a near copy.

The interval comes from a bootstrap over classes (classes drawn with replacement, with
all their trials), since trials of one class share its images and are not independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WAYS = 20
BOOTSTRAP_ROUNDS = 1000


@dataclass(frozen=True)
class OneShotResult:
    """N-way one-shot accuracy with its bootstrap interval.

    Attributes:
        ways: N, the number of supports in each trial (chance is 1 / N).
        trials: the trials run.
        accuracy: the share of trials whose nearest support had the query's class (a
            tie among the nearest counts as the share a random pick among them wins).
        low: lower end of the interval (95 % unless asked otherwise).
        high: upper end of the interval.
        classes: the query classes the trials came from.
        skipped: queries left out because no support set could be drawn for them (no
            other image of their class, from another source where sources are given, or
            fewer than N - 1 other classes beside it).
    """

    ways: int
    trials: int
    accuracy: float
    low: float
    high: float
    classes: int
    skipped: int

    @property
    def chance(self) -> float:
        """The accuracy of guessing: 1 / N."""
        return 1.0 / self.ways


def one_shot_trials(
    labels: np.ndarray, sources: np.ndarray | None = None, ways: int = WAYS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Draw one trial per image that can be a query, seeded.

    Args:
        labels: class of every image.
        sources: source (drawer, theme) of every image, or None when images have none.
        ways: N.
        seed: seeds every choice.

    Returns:
        (queries, supports, right, skipped): query indices (T,), support indices (T, N)
        whose column `right[t]` is the query's class, and how many queries had no trial.
    """
    labels = np.asarray(labels)
    if ways < 2:
        raise ValueError(f"ways must be at least 2, not {ways}")
    rng = np.random.default_rng(seed)
    n = len(labels)
    if sources is None:
        sources_arr = np.arange(n)  # every image its own source: any other image will do
    else:
        sources_arr = np.asarray(sources)
        if len(sources_arr) != n:
            raise ValueError(f"{len(sources_arr)} sources for {n} images")
    # source -> class -> image indices
    by_source: dict = {}
    for i in range(n):
        by_source.setdefault(sources_arr[i] if sources is not None else 0, {}).setdefault(labels[i], []).append(i)
    queries, supports, right, skipped = [], [], [], 0
    for q in range(n):
        c = labels[q]
        pools = []
        for s, classes in by_source.items():
            if sources is not None and s == sources_arr[q]:
                continue
            own = [i for i in classes.get(c, []) if i != q]
            if own and len(classes) - 1 >= ways - 1:
                pools.append((own, [k for k in classes if k != c], classes))
        if not pools:
            skipped += 1
            continue
        own, others, classes = pools[rng.integers(len(pools))]
        chosen = rng.choice(len(others), ways - 1, replace=False)
        row = [own[rng.integers(len(own))]]
        row += [classes[others[k]][rng.integers(len(classes[others[k]]))] for k in chosen]
        position = int(rng.integers(ways))
        row[0], row[position] = row[position], row[0]
        queries.append(q), supports.append(row), right.append(position)
    return (
        np.asarray(queries, np.int64),
        np.asarray(supports, np.int64).reshape(len(queries), ways),
        np.asarray(right, np.int64),
        skipped,
    )


def n_way_one_shot(
    embeddings: np.ndarray,
    labels: np.ndarray,
    sources: np.ndarray | None = None,
    ways: int = WAYS,
    seed: int = 0,
    rounds: int = BOOTSTRAP_ROUNDS,
    confidence: float = 0.95,
) -> OneShotResult:
    """N-way one-shot accuracy of `embeddings`, every image a query once (see the module).

    Args:
        embeddings: (N_images, D) vectors.
        labels: class of every image.
        sources: source of every image (for icons, the theme), or None.
        ways: N (20 as in Koch et al.).
        seed: seeds the trials and the bootstrap.
        rounds: bootstrap resamples of the classes.
        confidence: coverage of the interval.

    Raises:
        ValueError: if no trial can be drawn (too few classes, or no class with two
            images, from two sources where sources are given).
    """
    embeddings = np.asarray(embeddings, np.float64)
    labels = np.asarray(labels)
    if len(embeddings) != len(labels):
        raise ValueError(f"{len(embeddings)} embeddings for {len(labels)} labels")
    queries, supports, right, skipped = one_shot_trials(labels, sources, ways, seed)
    if not len(queries):
        raise ValueError(f"no {ways}-way one-shot trial can be drawn from these images")
    d = np.linalg.norm(embeddings[supports] - embeddings[queries][:, None, :], axis=-1)
    nearest = d.min(axis=1, keepdims=True)
    ties = d <= nearest
    credit = ties[np.arange(len(right)), right] / ties.sum(axis=1)
    query_classes = labels[queries]
    classes, inverse = np.unique(query_classes, return_inverse=True)
    sums = np.bincount(inverse, weights=credit, minlength=len(classes))
    counts = np.bincount(inverse, minlength=len(classes))
    rng = np.random.default_rng(seed + 1)
    draws = rng.integers(len(classes), size=(rounds, len(classes)))
    boot = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1.0 - confidence) / 2
    return OneShotResult(
        ways=ways,
        trials=len(queries),
        accuracy=float(credit.mean()),
        low=float(np.quantile(boot, tail)),
        high=float(np.quantile(boot, 1.0 - tail)),
        classes=len(classes),
        skipped=skipped,
    )
