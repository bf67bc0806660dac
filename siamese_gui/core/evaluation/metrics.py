"""Verification metrics from pair distances (numpy only).

A pair is judged "same" when its distance is strictly below the threshold.
FAR (false accept rate) is the share of different-class pairs judged same; FRR (false
reject rate) is the share of same-class pairs judged different.
"""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import asdict, dataclass

import numpy as np

from siamese_gui.core.data.pairs import Pairs
from siamese_gui.core.errors import ConfigError

# Below this many same-class (or different-class) pairs a rate is not reported: with
# 10 pairs a measured FRR of 0 % still allows a true FRR of 28 % (Wilson, 95 %).
MIN_PAIRS = 10
_Z95 = 1.959963984540054


class Verdict(enum.Enum):
    """The model's answer for one pair."""

    SAME = "same"
    DIFFERENT = "different"
# No model of ours measures distances anywhere near this; a larger threshold judges every
# pair "same" and is a typo or an attack, not a setting.
THRESHOLD_MAX = 10_000.0


def validate_threshold(value, source: str, error: type = ConfigError) -> float:
    """Return `value` as a float if it is a usable threshold.

    A threshold is a finite number in [0, `THRESHOLD_MAX`]; booleans, strings, NaN and
    infinities are not.

    Args:
        value: the candidate, as read from a file, the command line or a widget.
        source: what it came from, for the message (a file name or "--threshold").
        error: the `SiameseError` subclass to raise.

    Raises:
        error: naming `source`, if the value is not a usable threshold.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise error(f"{source}: the threshold must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or not 0.0 <= number <= THRESHOLD_MAX:
        if isinstance(value, numbers.Integral):
            shown = str(value) if abs(int(value)).bit_length() < 64 else "a huge number"
        else:
            shown = f"{number:.6g}"
        raise error(
            f"{source}: the threshold must be a finite number from 0 to {THRESHOLD_MAX:g}, not {shown}"
        )
    return number


def is_valid_threshold(value) -> bool:
    """Whether `value` passes `validate_threshold`."""
    try:
        validate_threshold(value, "threshold")
    except ConfigError:
        return False
    return True


def judged_same(distances, threshold: float):
    """The verdict: True ("same") where the distance is strictly below the threshold.

    Works on one distance or an array of them.
    """
    return np.asarray(distances) < threshold


def verdict_of(distance: float, threshold: float) -> Verdict:
    """The verdict for one distance at `threshold`."""
    return Verdict.SAME if judged_same(distance, threshold) else Verdict.DIFFERENT


@dataclass(frozen=True)
class Rate:
    """A proportion measured on `total` trials, with its 95 % Wilson interval.

    Attributes:
        hits: how many trials counted.
        total: how many trials there were.
        value: hits / total, or None when there were fewer than `MIN_PAIRS` trials
            ("not enough data to measure this").
        low: lower end of the 95 % interval (None with `value`).
        high: upper end of the 95 % interval (None with `value`).
    """

    hits: int
    total: int
    value: float | None
    low: float | None
    high: float | None

    @property
    def measured(self) -> bool:
        return self.value is not None

    def describe(self, digits: int = 1) -> str:
        """"4.7 % (4.4-5.0 %)", or "not enough data to measure this (3 pairs)"."""
        if self.value is None:
            return f"not enough data to measure this ({self.total} pairs)"
        return (
            f"{100 * self.value:.{digits}f} % ({100 * self.low:.{digits}f}-"
            f"{100 * self.high:.{digits}f} %)"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def wilson_rate(hits: int, total: int, min_total: int = MIN_PAIRS) -> Rate:
    """Return hits / total with its 95 % Wilson score interval.

    The Wilson interval stays inside [0, 1] and is honest at 0 % and 100 %, where the
    normal approximation claims certainty.
    """
    hits, total = int(hits), int(total)
    if total < max(min_total, 1):
        return Rate(hits, total, None, None, None)
    p = hits / total
    z2 = _Z95**2
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = _Z95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total**2)) / (1 + z2 / total)
    return Rate(hits, total, p, max(0.0, centre - half), min(1.0, centre + half))


PAIR_CHUNK = 2048


def pair_distances(embeddings: np.ndarray, pairs: Pairs) -> np.ndarray:
    """Return the Euclidean distance of each pair, given one embedding per image.

    Pairs are gathered a chunk at a time, so memory does not grow with their number
    (20,000 pairs of 700-d embeddings gathered at once took about 100 MiB).
    """
    a, b = np.asarray(pairs.a), np.asarray(pairs.b)
    distances = np.empty(len(a), np.float32)
    for start in range(0, len(a), PAIR_CHUNK):
        end = start + PAIR_CHUNK
        first = embeddings[a[start:end]].astype(np.float32, copy=False)
        diff = first - embeddings[b[start:end]].astype(np.float32, copy=False)
        distances[start:end] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return distances


def _sweep(distances: np.ndarray, same: np.ndarray):
    """Candidate thresholds and the counts they give.

    Returns thresholds t_0 < t_1 < ... (below every distance, between each pair of
    distinct distances, above every distance) with the number of same and different
    pairs accepted (distance < t) at each.
    """
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    order = np.argsort(distances, kind="stable")
    d, s = distances[order], same[order]
    distinct = np.flatnonzero(np.diff(d) > 0)  # last index of each run of equal values
    ends = np.concatenate([distinct, [len(d) - 1]]) if len(d) else np.zeros(0, int)
    cum_same = np.concatenate([[0], np.cumsum(s)[ends]])
    cum_diff = np.concatenate([[0], np.cumsum(~s)[ends]])
    if len(d):
        values = d[ends]
        mids = (values[:-1] + values[1:]) / 2
        span = max(values[-1] - values[0], 1e-6)
        thresholds = np.concatenate([[values[0] - 1e-3 * span], mids, [values[-1] + 1e-3 * span]])
    else:
        thresholds = np.zeros(1)
    return thresholds, cum_same, cum_diff, int(s.sum()), int((~s).sum())


def roc_curve(distances: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (far, tar, thresholds) for every distinct operating point, FAR rising.

    TAR (true accept rate) is 1 - FRR.
    """
    thresholds, acc_same, acc_diff, n_same, n_diff = _sweep(distances, same)
    tar = acc_same / max(n_same, 1)
    far = acc_diff / max(n_diff, 1)
    return far, tar, thresholds


def roc_auc(distances: np.ndarray, same: np.ndarray) -> float:
    """Return the area under the ROC curve (1.0 when every same pair is closer)."""
    far, tar, _ = roc_curve(distances, same)
    return float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))


def auc_standard_error(auc: float, n_same: int, n_different: int) -> float:
    """Standard error of an ROC AUC from `n_same` and `n_different` independent pairs
    (Hanley & McNeil, 1982)."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (n_same - 1) * (q1 - auc**2) + (n_different - 1) * (q2 - auc**2)) / (
        n_same * n_different
    )
    return math.sqrt(max(variance, 0.0))


def equal_error_rate(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Return (eer, threshold) where FAR and FRR are closest, EER their mean there."""
    far, tar, thresholds = roc_curve(distances, same)
    frr = 1 - tar
    k = int(np.argmin(np.abs(far - frr)))
    return float((far[k] + frr[k]) / 2), float(thresholds[k])


def max_accuracy_threshold(distances: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Return (accuracy, threshold) of the threshold that classifies most pairs right.

    The threshold lies midway between two neighbouring distances, so it generalises
    better than one placed exactly on a distance.
    """
    thresholds, acc_same, acc_diff, n_same, n_diff = _sweep(distances, same)
    correct = acc_same + (n_diff - acc_diff)
    k = int(np.argmax(correct))
    return float(correct[k] / max(n_same + n_diff, 1)), float(thresholds[k])


def threshold_for_far(distances: np.ndarray, same: np.ndarray, max_far: float) -> float:
    """Return the largest threshold whose FAR is at most `max_far`."""
    far, _, thresholds = roc_curve(distances, same)
    allowed = np.flatnonzero(far <= max_far)
    return float(thresholds[allowed[-1]])


@dataclass(frozen=True)
class ThresholdMetrics:
    """Counts and rates of a same/different decision at one threshold.

    The plain floats are point estimates (0 where nothing was counted); the `Rate`
    properties carry the 95 % interval and say when there is too little data.
    """

    threshold: float
    accuracy: float
    precision: float
    recall: float
    far: float
    frr: float
    true_accepts: int
    false_accepts: int
    true_rejects: int
    false_rejects: int

    @property
    def accuracy_rate(self) -> Rate:
        n = self.true_accepts + self.false_accepts + self.true_rejects + self.false_rejects
        return wilson_rate(self.true_accepts + self.true_rejects, n)

    @property
    def far_rate(self) -> Rate:
        """False accepts among different-class pairs."""
        return wilson_rate(self.false_accepts, self.false_accepts + self.true_rejects)

    @property
    def frr_rate(self) -> Rate:
        """False rejects among same-class pairs."""
        return wilson_rate(self.false_rejects, self.false_rejects + self.true_accepts)

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "accuracy_ci95": _interval(self.accuracy_rate),
            "far_ci95": _interval(self.far_rate),
            "frr_ci95": _interval(self.frr_rate),
        }


def _interval(rate: Rate) -> list[float] | None:
    return None if rate.value is None else [rate.low, rate.high]


def metrics_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> ThresholdMetrics:
    """Return accuracy, precision, recall, FAR and FRR at `threshold`."""
    same = np.asarray(same, dtype=bool)
    accepted = judged_same(np.asarray(distances), threshold)
    ta = int(np.sum(accepted & same))
    fa = int(np.sum(accepted & ~same))
    tr = int(np.sum(~accepted & ~same))
    fr = int(np.sum(~accepted & same))
    return ThresholdMetrics(
        threshold=float(threshold),
        accuracy=(ta + tr) / max(len(same), 1),
        precision=ta / max(ta + fa, 1),
        recall=ta / max(ta + fr, 1),
        far=fa / max(fa + tr, 1),
        frr=fr / max(fr + ta, 1),
        true_accepts=ta,
        false_accepts=fa,
        true_rejects=tr,
        false_rejects=fr,
    )


def class_pair_errors(
    labels: np.ndarray, pairs: Pairs, distances: np.ndarray, threshold: float, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Count pairs and wrong verdicts for each (class, class) combination.

    Returns:
        (errors, totals): symmetric int arrays (num_classes, num_classes); the diagonal
        holds same-class pairs wrongly rejected, the rest different-class pairs wrongly
        accepted.
    """
    ca, cb = labels[pairs.a], labels[pairs.b]
    wrong = judged_same(np.asarray(distances), threshold) != pairs.same
    errors = np.zeros((num_classes, num_classes), np.int64)
    totals = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(totals, (ca, cb), 1)
    np.add.at(errors, (ca, cb), wrong.astype(np.int64))
    off_diagonal = ~np.eye(num_classes, dtype=bool)
    errors = errors + errors.T * off_diagonal
    totals = totals + totals.T * off_diagonal
    return errors, totals


@dataclass(frozen=True)
class EvaluationReport:
    """How well distances separate same from different pairs.

    AUC, EER and the best threshold need both kinds of pair: with only one kind (or
    none) they are None ("undefined"), never 0 or 100 %.
    """

    pairs: int
    same_pairs: int
    different_pairs: int
    auc: float | None
    eer: float | None
    eer_threshold: float | None
    best_accuracy: float | None
    best_threshold: float | None

    @property
    def defined(self) -> bool:
        """Whether both kinds of pair were present."""
        return self.auc is not None

    @property
    def enough_data(self) -> bool:
        """Whether each kind of pair reaches `MIN_PAIRS`."""
        return min(self.same_pairs, self.different_pairs) >= MIN_PAIRS

    def as_dict(self) -> dict:
        return asdict(self)


def evaluate_distances(distances: np.ndarray, same: np.ndarray) -> EvaluationReport:
    """Summarise a set of pair distances: AUC, EER and the max-accuracy threshold."""
    same = np.asarray(same, dtype=bool)
    n_same, n_diff = int(same.sum()), int((~same).sum())
    if n_same == 0 or n_diff == 0:
        return EvaluationReport(len(same), n_same, n_diff, None, None, None, None, None)
    eer, eer_threshold = equal_error_rate(distances, same)
    best_accuracy, best_threshold = max_accuracy_threshold(distances, same)
    return EvaluationReport(
        pairs=len(same),
        same_pairs=n_same,
        different_pairs=n_diff,
        auc=roc_auc(distances, same),
        eer=eer,
        eer_threshold=eer_threshold,
        best_accuracy=best_accuracy,
        best_threshold=best_threshold,
    )
