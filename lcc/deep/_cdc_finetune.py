"""CDC's fine-tuning (Algorithm 1, lines 5–15): the training function behind ``CDC.fit``."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from lcc.deep._checkpointing import Tensors, as_tensor, restore_point, save_point
from lcc.losses.cdc import affinity_loss
from lcc.losses.dec import dec_loss, soft_assignment, target_distribution

KEYS = ("loss", "loss_ae", "clustering", "affinity", "regularization")
KEYS += ("reconstruction", "correlation_x", "correlation_xr")


def _total_steps(est: Any, n: int) -> int:
    """``T``: ``clustering_iterations``, or ``clustering_epochs`` passes over the data."""
    if est.clustering_epochs is None:
        return est.clustering_iterations
    steps_per_epoch = math.ceil(n / est.batch_size)
    if steps_per_epoch > 1 and n % est.batch_size == 1:
        steps_per_epoch -= 1  # the trailing singleton joins the previous batch
    return est.clustering_epochs * steps_per_epoch


def fine_tune(est: Any, x: torch.Tensor, y: np.ndarray | None) -> None:
    """Algorithm 1, lines 5–15, on the ``CDC`` estimator ``est`` (pre-trained, initialised)."""
    total_steps = _total_steps(est, len(x))
    encoder = list(est.model_.encoder.parameters())
    decoder = list(est.model_.decoder.parameters())
    optimizer = torch.optim.SGD(
        [*encoder, *decoder, est._centers], lr=est.lr, momentum=est.momentum
    )
    objects = {"model": est.model_, "centers": Tensors(mu=est._centers), "optimizer": optimizer}
    epoch, loop = restore_point(est, "cluster", objects) or (0, {})
    if epoch:  # resumed
        previous, step = loop["previous"].numpy(), loop["step"]
        targets = None if loop["targets"] is None else loop["targets"].to(x.device)
        est.init_labels_ = loop["init_labels"].numpy()
    else:
        previous = est._assign(est.transform_tensor(x)).cpu().numpy()
        targets, step = None, 0
    while step < total_steps:
        start = time.perf_counter()
        sums, seen = dict.fromkeys(KEYS, 0.0), 0
        for idx in est._batches(len(x)):
            if step >= total_steps:
                break
            if step % est.update_interval == 0:  # lines 6–10: P from the whole data set
                with torch.no_grad():
                    q_all = soft_assignment(est.transform_tensor(x), est._centers, est.dof)
                    targets = target_distribution(q_all)
            idx = idx.to(x.device)
            values = _step(est, x[idx], targets[idx], optimizer, encoder, decoder)
            for key, value in zip(KEYS, values, strict=True):
                sums[key] += float(value.detach()) * len(idx)
            seen += len(idx)
            step += 1
        previous = _log_epoch(est, x, y, previous, sums, seen, epoch, step, start)
        loop = {"previous": as_tensor(previous), "targets": targets, "step": step}
        loop["init_labels"] = as_tensor(est.init_labels_)
        save_point(est, "cluster", epoch, objects, loop)
        epoch += 1
    est.n_iter_ = step


def _step(est: Any, xb, target, optimizer, encoder, decoder) -> tuple[torch.Tensor, ...]:
    """One batch (lines 11–14): ``L_DC`` (eq. 13) for encoder and centres, ``L_AE`` for the
    decoder (or ``L_DC`` for all with ``decoder_loss="dc"``); returns the loss terms."""
    opts = est._pair_options() | {"sharpen_target": bool(est.sharpen_affinity_target)}
    z, xr = est._forward(xb)  # float32 in either precision
    q = soft_assignment(z, est._centers, float(est.dof))
    l_c = dec_loss(q, target)  # eq. 9
    l_a = affinity_loss(q, z, **opts)  # eq. 11
    rec, cr_x, cr_xr = est._ae_terms(xb, z, xr)
    l_re = cr_x + cr_xr  # eq. 12
    l_dc = float(est.clustering_weight) * l_c + float(est.affinity_weight) * l_a
    l_dc = l_dc + float(est.regularization_weight) * l_re  # eq. 13
    l_ae = rec + float(est.correlation_weight) * l_re  # eq. 7
    optimizer.zero_grad()
    if est.decoder_loss == "ae":  # lines 12–14
        _set_grads([*encoder, est._centers], l_dc, retain_graph=True)
        _set_grads(decoder, l_ae)
    else:
        l_dc.backward()
    optimizer.step()
    return l_dc, l_ae, l_c, l_a, l_re, rec, cr_x, cr_xr


def _log_epoch(est, x, y, previous, sums, seen, epoch, step, start) -> np.ndarray:
    """The epoch's record: mean loss terms, label change, clustering report; new labels."""
    z_all = est.transform_tensor(x)
    labels = est._assign(z_all).cpu().numpy()
    record: dict[str, Any] = {"phase": "cluster", "epoch": epoch, "iteration": step}
    record |= {key: value / max(seen, 1) for key, value in sums.items()}
    record["label_change"] = float(np.mean(labels != previous))
    if y is not None:
        record |= est._report(z_all, labels, y)
    record["epoch_time_s"] = time.perf_counter() - start
    est._end_epoch(record)
    return labels


def _set_grads(params: list[torch.Tensor], loss: torch.Tensor, retain_graph: bool = False) -> None:
    """``p.grad = ∂loss/∂p`` for ``params`` only (zero where ``loss`` does not reach ``p``)."""
    grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.zeros_like(p) if g is None else g
