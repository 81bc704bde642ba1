"""The LCC step (paper sections III.B–D): k-NN graph → communities → matching → targets.

:func:`correct` chains the engine functions once per layer; the callbacks
(plain, Lightning, DDP) only capture latents, call it and stage the result
back to torch. The targets themselves are :func:`lcc.targets.correction_targets`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, get_args

from lcc import sharded
from lcc._dispatch import here, is_sharded
from lcc._validation import Bool, Choice, Int, OneOrMany, Parameter, Real, check_values
from lcc.class_selection import Policy, select_classes
from lcc.graph import leiden, louvain, modularity, peer_pressure
from lcc.matching import Matching, match_clusters
from lcc.metrics import cc_mc_accuracy
from lcc.neighbors import METRICS, Metric, knn_graph
from lcc.partition_guard import ClusterExplosionWarning, closest_to_classes, explosion
from lcc.targets import CorrectionTargets, Mode, correction_targets

__all__ = [
    "STEP_PARAMETERS",
    "Correction",
    "CorrectionTargets",
    "Method",
    "correct",
    "correction_targets",
    "step_parameters",
]


class Correction(NamedTuple):
    """Result of :func:`correct`: one LCC step on one layer's latents.

    clusters : (n_samples,) int64
        Community of every sample (local array, of the labels' kind).
    matching : Matching
        Clusters → labels and the misclustered mask.
    targets, correctible
        As :class:`CorrectionTargets` (local arrays of the latents' kind).
    stats : dict
        ``n_clusters``, ``modularity``, ``mc_fraction``, ``correctible_fraction``,
        ``n_classes``, ``singleton_fraction``, ``exploded`` and ``skipped``
        (:mod:`lcc.partition_guard`); for a resolution sweep the ``resolution``
        chosen and ``n_clusters_at_<γ>`` for every value swept; when ``predictions``
        were given, the model's accuracy on all / CC / MC samples (eq. 9):
        ``acc_all``, ``acc_cc``, ``acc_mc``. Every value but ``selected_classes`` is a
        number or a bool.
    """

    clusters: Any
    matching: Matching
    targets: Any
    correctible: Any
    stats: dict[str, Any]


Method = Literal["leiden", "louvain", "peer_pressure"]
"""The LCC step's community detection: :func:`lcc.leiden`, :func:`lcc.louvain`,
:func:`lcc.peer_pressure`."""

Explosion = Literal["warn", "skip"]
"""What the LCC step does with an exploded partition (:mod:`lcc.partition_guard`): warn and
correct as usual, or warn and correct nothing."""

STEP_PARAMETERS: Mapping[str, Parameter] = MappingProxyType(
    {
        "k": Parameter(int, 5, Int(1)),
        "method": Parameter(Method, "leiden", Choice(get_args(Method))),
        "mode": Parameter(Mode, "exact", Choice(get_args(Mode))),
        "resolution": Parameter(float | list[float], 1.0, OneOrMany(Real(positive=True))),
        "exact_knn": Parameter(bool, True, Bool()),
        "metric": Parameter(Metric, "euclidean", Choice(METRICS)),
        "seed": Parameter(int, 0, Int(0)),
        "class_selection": Parameter(str | None, None, Policy()),
        "max_cluster_ratio": Parameter(float | None, 10.0, Real(positive=True, optional=True)),
        "max_singleton_share": Parameter(float | None, 0.5, Real(0.0, 1.0, optional=True)),
        "on_explosion": Parameter(Explosion, "warn", Choice(get_args(Explosion))),
    }
)
"""The LCC step's parameters, declared once: the type, default and rule of each.

:func:`correct`, :class:`lcc.training.LCCCallback` (so the Lightning callback) and the
``lcc`` section of the ``lcc_finetune`` pipeline's config take these and check them with
this table, so a bad value gets the same one-line message from each."""


def step_parameters(**values: Any) -> dict[str, Any]:
    """The LCC step's parameters: ``values`` checked against :data:`STEP_PARAMETERS` (an
    :class:`lcc._validation.InvalidParameterError` names the first bad one), the table's
    defaults for those not given, in the table's order: ``correct(z, y, **step)``."""
    unknown = sorted(set(values) - set(STEP_PARAMETERS))
    if unknown:
        raise TypeError(f"{unknown}: not parameters of the LCC step ({list(STEP_PARAMETERS)})")
    step = {name: values.get(name, p.default) for name, p in STEP_PARAMETERS.items()}
    check_values(step, {name: p.rule for name, p in STEP_PARAMETERS.items()})
    return step


def correct(
    z: Any,
    y: Any,
    *,
    k: int = 5,
    method: Method = "leiden",
    mode: Mode = "exact",
    resolution: float | Sequence[float] = 1.0,
    exact_knn: bool = True,
    metric: Metric = "euclidean",
    seed: int = 0,
    class_selection: str | None = None,
    max_cluster_ratio: float | None = 10.0,
    max_singleton_share: float | None = 0.5,
    on_explosion: Explosion = "warn",
    predictions: Any = None,
) -> Correction:
    """One LCC step (paper sections III.B–D): k-NN graph → communities → matching → targets.

    Parameters
    ----------
    z : (n_samples, n_features) numpy, cupy or Dask array
        One layer's latents, indexed by dataset index.
    y : (n_samples,) int array
        True labels, on the latents' device (a Dask ``z`` takes local labels).
    k : int, default 5
        Neighbours of the k-NN graph and CC samples averaged into a target.
    method : {"leiden", "louvain", "peer_pressure"}, default "leiden"
        Community detection (:func:`lcc.leiden`, :func:`lcc.louvain`,
        :func:`lcc.peer_pressure`). On Dask input Louvain and k-NN pressure run
        on the graph gathered to this process (once).
    mode : {"exact", "approximate", "orthogonal"}, default "exact"
        See :func:`correction_targets`.
    resolution : float or sequence of floats, default 1.0
        Modularity resolution (Leiden, Louvain). A sequence sweeps it on the one
        graph (:func:`lcc.leiden`) and keeps the partition whose cluster count is
        closest to the number of classes in ``y`` (the first of equals; nothing
        else is read from the labels); ``stats`` say which and every count.
    exact_knn : bool, default True
        Exact k-NN search for the graph (else the backend's approximate index).
    metric : {"euclidean", "cosine", "inner_product"}, default "euclidean"
        The latents' geometry: the graph's neighbours and weights
        (:func:`lcc.knn_graph`) and the targets (:func:`correction_targets`: for
        cosine, each sample keeps its length and takes the normalised mean
        direction of its target's CC neighbours; for the inner product, the mean of
        the CC samples of largest inner product). ``"inner_product"`` needs
        ``exact_knn=True``.
    seed : int, default 0
    class_selection : str, optional
        Correct only the samples of the classes the model confuses most, by the LCC
        authors' policies (:mod:`lcc.class_selection`: ``"top_pair_N"``,
        ``"top_connected_N"``, ``"max_connected"``), chosen from ``predictions``; the
        classes go to ``stats["selected_classes"]`` (None: every class).
    max_cluster_ratio, max_singleton_share : float or None, default 10.0 and 0.5
        The guard against cluster explosions (:mod:`lcc.partition_guard`): a
        partition with more than ``max_cluster_ratio`` clusters per class, or more
        than ``max_singleton_share`` of the samples alone in their cluster, has
        exploded (None turns a limit off). Both limits lie far outside a healthy
        k-NN graph's partition: they catch a failure, they are not a tuning knob.
    on_explosion : {"warn", "skip"}, default "warn"
        An exploded partition warns (:class:`ClusterExplosionWarning`, with the
        figures) and sets ``stats["exploded"]``; ``"skip"`` also corrects nothing
        (no sample correctible, ``stats["skipped"]``).
    predictions : (n_samples,) int array, optional
        The model's predicted classes: adds its accuracy on CC / MC samples to ``stats``.

    Notes
    -----
    ``k`` … ``on_explosion`` are the step's parameters of :data:`STEP_PARAMETERS` (defaults and
    rules); a bad one raises :class:`lcc._validation.InvalidParameterError` naming it.

    Returns
    -------
    Correction
        Every intermediate is computed once: one graph, one community
        detection, one matching (shared with the targets).
    """
    step = step_parameters(
        k=k, method=method, mode=mode, resolution=resolution, exact_knn=exact_knn,
        metric=metric, seed=seed, class_selection=class_selection,
        max_cluster_ratio=max_cluster_ratio, max_singleton_share=max_singleton_share,
        on_explosion=on_explosion,
    )  # fmt: skip
    if class_selection is not None and predictions is None:
        raise ValueError(
            f"class_selection={class_selection!r} needs the model's predictions (predictions=) "
            "to find the classes it confuses"
        )
    for name, labels in (("y", y), ("predictions", predictions)):
        if labels is not None and len(labels) != len(z):
            raise ValueError(
                f"{name} has {len(labels)} entries but z has {len(z)} samples; per-sample "
                "arrays must be indexed by dataset index and have the same length"
            )
    if is_sharded(z):  # Dask: rerun when a worker dies meanwhile
        return sharded.survive_worker_loss(lambda: _correct(z, y, predictions, **step))
    return _correct(z, y, predictions, **step)


def _correct(
    z, y, predictions, *, k, method, mode, resolution, exact_knn, metric, seed, class_selection,
    **guard,
) -> Correction:  # fmt: skip
    adjacency = knn_graph(z, k, exact=exact_knn, metric=metric)
    if is_sharded(adjacency) and method != "leiden":
        adjacency = sharded.gather(adjacency)  # igraph Louvain / k-NN pressure: one process
    xp = here(y).xp
    n_classes = int(xp.unique(y).shape[0])
    clusters, stats = _communities(adjacency, method, seed, n_classes, resolution)
    matching = match_clusters(y, clusters)
    targets, correctible = map(
        _local,
        correction_targets(
            z, y, clusters, k=k, mode=mode, seed=seed, matching=matching, metric=metric
        ),
    )
    if class_selection is not None:
        correctible, selected = _selected(correctible, y, predictions, class_selection)
    stats |= _guarded(clusters, n_classes, **guard)
    if stats["skipped"]:
        correctible = xp.zeros_like(correctible)
    stats |= {
        "modularity": modularity(adjacency, clusters),
        "mc_fraction": float(matching.misclustered.mean()),
        "correctible_fraction": float(correctible.mean()),
    }
    if predictions is not None:
        acc = cc_mc_accuracy(y, predictions, matching.misclustered)
        stats |= {"acc_all": acc.overall, "acc_cc": acc.cc, "acc_mc": acc.mc}
    if class_selection is not None:
        stats["selected_classes"] = None if selected is None else selected.tolist()
    return Correction(clusters, matching, targets, correctible, stats)


def _communities(
    adjacency: Any, method: str, seed: int, n_classes: int, resolution: Any
) -> tuple[Any, dict[str, Any]]:
    """The step's communities (local, compact) and, for a resolution sweep, the resolution
    whose cluster count is closest to ``n_classes`` with every value's count."""
    if method == "peer_pressure":
        return _local(peer_pressure(adjacency, seed=seed)), {}
    detect = leiden if method == "leiden" else louvain
    found = detect(adjacency, seed=seed, resolution=resolution)
    if not isinstance(found, list):
        return _local(found), {}
    partitions = [_local(labels) for labels in found]
    counts = [int(labels.max()) + 1 for labels in partitions]
    chosen = closest_to_classes(counts, n_classes)
    stats = {"resolution": float(resolution[chosen])}
    stats |= {f"n_clusters_at_{float(r):g}": c for r, c in zip(resolution, counts, strict=True)}
    return partitions[chosen], stats


def _guarded(clusters: Any, n_classes: int, *, on_explosion: str, **limits: Any) -> dict:
    """The explosion statistics of ``clusters`` (:func:`lcc.partition_guard.explosion`),
    warned about when it exploded; ``skipped`` when ``on_explosion="skip"`` then."""
    stats = explosion(clusters, n_classes, **limits)
    description = stats.pop("explosion")
    if description is not None:
        then = "nothing corrected" if on_explosion == "skip" else "corrected as usual"
        warnings.warn(
            f"the LCC step's partition exploded: {description}; {then} "
            "(on_explosion='warn' | 'skip'; see lcc.partition_guard)",
            ClusterExplosionWarning,
            stacklevel=4,
        )
    return stats | {
        "n_classes": n_classes,
        "skipped": bool(stats["exploded"] and on_explosion == "skip"),
    }


def _selected(correctible: Any, y: Any, predictions: Any, policy: str) -> tuple[Any, Any]:
    """``correctible`` kept for the samples of the classes ``policy`` selects, and those
    classes (None: every class; :func:`lcc.class_selection.select_classes`)."""
    selected = select_classes(y, predictions, policy)
    if selected is None:
        return correctible, None
    xp = here(correctible).xp
    return correctible & xp.isin(y, xp.asarray(selected)), selected


def _local(a: Any) -> Any:
    """A Dask result computed into this process; local arrays pass through."""
    return a.compute() if hasattr(a, "compute") else a
