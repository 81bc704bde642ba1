"""The clustering phase of DEC / IDEC / DCN: the training function behind their ``fit``.

Each epoch: shuffled batches (:meth:`~lcc.deep.centroid._CentroidDeepClustering._batches`),
P from the whole data set every ``update_interval`` steps (DEC eq. 4) or per batch, the
loss and step, the head's after-step update (DCN eq. 7); then the epoch's labels, the
callbacks (BRB) and a checkpoint.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from lcc.deep._checkpointing import as_tensor, restore_point, save_point
from lcc.deep._history import epoch_record


def cluster(est: Any, x: torch.Tensor, y: np.ndarray | None) -> None:
    """The clustering epochs of the centroid estimator ``est`` (initialised, maybe resumed)."""
    weight = est.recipe_["cluster_weight"]
    update_interval = est.update_interval or math.ceil(len(x) / est.batch_size)
    whole_set_targets = est.head_.uses_targets and est.recipe_["target"] == "dataset"
    objects = {"model": est.model_, "head": est.head_, "optimizer": est.optimizer_}
    first, loop = restore_point(est, "cluster", objects) or (0, {})
    codes = None  # the whole set's codes under the current weights, while known
    if first:
        previous, targets, step = loop["previous"].numpy(), loop["targets"], loop["step"]
        est.init_labels_ = loop["init_labels"].numpy()
        targets = None if targets is None else targets.to(x.device)
    else:
        codes = est.transform_tensor(x)
        previous = est._assign(codes).cpu().numpy()
        targets, step = None, 0
    for epoch in range(first, est.clustering_epochs):
        start = time.perf_counter()
        # summed on the device: no host synchronisation per batch
        total = torch.zeros((), dtype=torch.float64, device=x.device)
        seen = torch.empty(len(x), dtype=torch.long, device=x.device)
        batches = est._batches(len(x))  # without a short last one under drop_last
        trained = sum(len(idx) for idx in batches)
        for idx in batches:
            idx = idx.to(x.device)
            if whole_set_targets and step % update_interval == 0:
                if codes is None:  # at an epoch's start, the epoch-end pass's are current
                    codes = est.transform_tensor(x)
                targets = est.head_.targets(codes)  # eq. 4
            codes = None
            loss = est._batch_loss(x[idx], idx, targets, weight)
            seen[idx] = est._batch_assignments
            est._step(est.optimizer_, loss)
            est.head_.after_step(est._encode, x[idx], idx)
            total += loss.detach() * len(idx)
            step += 1
        codes_of = lambda idx: est.transform_tensor(x[idx.to(x.device)])  # noqa: E731
        est.head_.after_epoch(codes_of, lambda: est._batches(len(x)))  # DCN's per-epoch update
        if whole_set_targets or y is not None or trained < len(x):
            # P's next codes, the metrics' codes, or the labels of the samples left out
            codes = est.transform_tensor(x)
            labels = est._assign(codes).cpu().numpy()
        else:  # nothing needs the codes: the epoch's labels are its steps' assignments
            labels = seen.cpu().numpy()
        record = epoch_record(epoch, float(total) / trained, labels, previous, y, codes)
        record["epoch_time_s"] = time.perf_counter() - start
        if est._end_epoch(record):  # a callback reset the network: the codes are stale
            codes = None
        changed = float(np.mean(labels != previous))
        previous = labels
        loop = {"previous": as_tensor(previous), "targets": targets, "step": step}
        loop["init_labels"] = as_tensor(est.init_labels_)
        save_point(est, "cluster", epoch, objects, loop)
        if est.tol > 0 and changed < est.tol and not est.callbacks:
            break
