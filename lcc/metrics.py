"""Clustering metrics on either backend.

External (against labels): :func:`clustering_accuracy` (Hungarian matching,
scipy), :func:`nmi`, :func:`ari`; internal (geometry of the latents):
:func:`silhouette`, :func:`calinski_harabasz`, :func:`davies_bouldin`; and the
LCC paper's accuracy of correctly vs mis-clustered samples (eq. 9),
:func:`cc_mc_accuracy`. scikit-learn computes them on CPU and cuML on GPU
where it has them; Calinski–Harabasz and Davies–Bouldin, which cuML lacks,
are written once below on the numpy API that cupy mirrors and tested against
scikit-learn.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from lcc._backend import move
from lcc._dispatch import Placement, here
from lcc._validation import check_labels, check_latents, check_same_kind
from lcc.kernels.matching import contingency

__all__ = [
    "CCMCAccuracy",
    "PairedDifference",
    "ari",
    "calinski_harabasz",
    "cc_mc_accuracy",
    "clustering_accuracy",
    "clustering_report",
    "davies_bouldin",
    "nmi",
    "paired_difference",
    "sample_std",
    "silhouette",
]


def _two_labelings(y_true: Any, y_pred: Any) -> tuple[Placement, Any, Any]:
    """The checked labelings and where they are (metrics never move data)."""
    y_true = check_labels(y_true, "y_true")
    y_pred = check_labels(y_pred, "y_pred", y_true.shape[0])
    check_same_kind(y_true=y_true, y_pred=y_pred)
    return here(y_true), y_true, y_pred


def clustering_accuracy(y_true: Any, y_pred: Any) -> float:
    """Unsupervised clustering accuracy: the best one-to-one map clusters → labels.

    ``ACC = max_m (1/N) Σ_i 1[y_i = m(ŷ_i)]`` over injective maps ``m``, found by
    the Hungarian method (``scipy.optimize.linear_sum_assignment``) on the
    contingency table. With more clusters than labels the extra clusters count
    as errors.
    """
    from scipy.optimize import linear_sum_assignment

    on, y_true, y_pred = _two_labelings(y_true, y_pred)
    xp = on.xp
    _, t = xp.unique(y_true, return_inverse=True)
    _, p = xp.unique(y_pred, return_inverse=True)
    t, p = t.reshape(-1), p.reshape(-1)
    table = contingency(on, p, t, int(p.max()) + 1, int(t.max()) + 1)
    table = move(table, "cpu")  # (clusters × labels): tiny, the assignment runs on the host
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / y_true.shape[0])


def nmi(y_true: Any, y_pred: Any) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (scikit-learn's default)."""
    on, y_true, y_pred = _two_labelings(y_true, y_pred)
    return on.impl.nmi(y_true, y_pred)


def ari(y_true: Any, y_pred: Any) -> float:
    """Adjusted Rand index."""
    on, y_true, y_pred = _two_labelings(y_true, y_pred)
    return on.impl.ari(y_true, y_pred)


def _latents_and_labels(z: Any, labels: Any) -> tuple[Placement, Any, Any]:
    z = check_latents(z)
    labels = check_labels(labels, "labels", z.shape[0])
    check_same_kind(z=z, labels=labels)
    on = here(z)
    n_clusters = int(on.xp.unique(labels).shape[0])
    if not 2 <= n_clusters < z.shape[0]:
        raise ValueError(
            f"labels has {n_clusters} distinct cluster(s) for {z.shape[0]} samples; this "
            "metric needs between 2 and n_samples - 1 clusters"
        )
    return on, z, labels


def silhouette(z: Any, labels: Any, *, sample_size: int | None = 10_000, seed: int = 0) -> float:
    """Mean silhouette coefficient (−1 … 1, higher is better), Euclidean.

    The exact score costs O(N²); above ``sample_size`` samples it is computed
    on a random subset of that size (``None``: always exact).
    """
    on, z, labels = _latents_and_labels(z, labels)
    xp = on.xp
    if sample_size is not None and z.shape[0] > sample_size:
        pick = xp.argsort(xp.random.default_rng(seed).random(z.shape[0]))[:sample_size]
        z, labels = z[pick], labels[pick]
        if int(xp.unique(labels).shape[0]) < 2:
            raise ValueError("the silhouette subsample holds a single cluster; raise sample_size")
    return on.impl.silhouette(z, labels)


def calinski_harabasz(z: Any, labels: Any) -> float:
    """Calinski–Harabasz index (between / within dispersion ratio, higher is better)."""
    on, z, labels = _latents_and_labels(z, labels)
    return on.impl.calinski_harabasz(z, labels)


def davies_bouldin(z: Any, labels: Any) -> float:
    """Davies–Bouldin index (mean worst-case cluster similarity, lower is better)."""
    on, z, labels = _latents_and_labels(z, labels)
    return on.impl.davies_bouldin(z, labels)


def clustering_report(z: Any, labels: Any, y_true: Any = None) -> dict[str, float]:
    """The per-epoch table row of the representation-learning recipes.

    ``acc`` / ``nmi`` / ``ari`` against ``y_true`` when given, and the internal
    ``silhouette`` / ``calinski_harabasz`` / ``davies_bouldin`` of ``labels`` on
    ``z`` (NaN when ``labels`` has fewer than 2 clusters, where they are undefined).
    """
    report: dict[str, float] = {}
    if y_true is not None:
        report |= {
            "acc": clustering_accuracy(y_true, labels),
            "nmi": nmi(y_true, labels),
            "ari": ari(y_true, labels),
        }
    internal = {
        "silhouette": silhouette,
        "calinski_harabasz": calinski_harabasz,
        "davies_bouldin": davies_bouldin,
    }
    degenerate = not 2 <= int(here(labels).xp.unique(labels).shape[0]) < len(labels)
    for name, metric in internal.items():
        report[name] = float("nan") if degenerate else float(metric(z, labels))
    return report


class CCMCAccuracy(NamedTuple):
    """Model accuracy on all, correctly clustered and misclustered samples (eq. 9).

    ``cc`` / ``mc`` are NaN when the subset is empty; ``mc_fraction`` is the share
    of misclustered samples.
    """

    overall: float
    cc: float
    mc: float
    mc_fraction: float


def cc_mc_accuracy(y_true: Any, y_model: Any, misclustered: Any) -> CCMCAccuracy:
    """``acc(X, y)``, ``acc(X^CC, y^CC)`` and ``acc(X^MC, y^MC)`` of eq. (9).

    Parameters
    ----------
    y_true : (n,) int array
        True labels.
    y_model : (n,) int array
        The classifier's predictions (not the clusters).
    misclustered : (n,) bool array
        The MC mask from :func:`lcc.match_clusters`.
    """
    on, y_true, y_model = _two_labelings(y_true, y_model)
    xp = on.xp
    if getattr(misclustered, "shape", None) != y_true.shape or misclustered.dtype != xp.bool_:
        raise ValueError(f"misclustered must be a boolean mask of shape {tuple(y_true.shape)}")
    check_same_kind(y_true=y_true, misclustered=misclustered)
    correct = y_true == y_model

    def mean_over(mask: Any) -> float:
        count = int(mask.sum())
        return float(correct[mask].sum()) / count if count else float("nan")

    return CCMCAccuracy(
        overall=float(correct.mean()),
        cc=mean_over(~misclustered),
        mc=mean_over(misclustered),
        mc_fraction=float(misclustered.mean()),
    )


# ----------------------------------------------------------------- spread over seeds
def sample_std(values: Any) -> float:
    """The sample standard deviation (ddof = 1) of per-seed values; NaN for fewer than two."""
    import statistics

    values = [float(v) for v in values]
    return statistics.stdev(values) if len(values) > 1 else float("nan")


class PairedDifference(NamedTuple):
    """Mean of ``a_i − b_i`` over shared seeds and its confidence interval."""

    mean: float
    low: float
    high: float
    n: int


def paired_difference(a: Any, b: Any, confidence: float = 0.95) -> PairedDifference:
    """``a − b`` seed by seed (two arms run on the same seeds), with Student's t interval."""
    import numpy as np
    from scipy import stats

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.ndim != 1 or diff.size < 2:
        raise ValueError(f"a and b must be two equal-length lists of ≥ 2 values, got {diff.shape}")
    mean, sem = float(diff.mean()), float(stats.sem(diff))
    half = float(stats.t.ppf(0.5 + confidence / 2, diff.size - 1)) * sem
    return PairedDifference(mean, mean - half, mean + half, int(diff.size))
