"""DCN's assignments: kept per sample (the DCN paper's Algorithm 1) or the nearest centre."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import make_blobs

from lcc.deep import DCN
from lcc.deep._heads import KMeansHead


def _head(kept: bool) -> KMeansHead:
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    return KMeansHead(centers, torch.tensor([0, 0, 1, 1]) if kept else None)


def test_a_step_trains_towards_the_kept_assignment_then_reassigns_its_batch():
    head = _head(kept=True)
    z = torch.tensor([[9.0, 0.0], [1.0, 0.0]])  # samples 0 and 3, now nearer the other centre
    idx = torch.tensor([0, 3])
    assert head.step_assignments(z, idx).tolist() == [0, 1]  # s_i from before (eq. 6 fixed)
    head.after_step(lambda xb: xb, z, idx)
    assert head.assignments.tolist() == [1, 0, 1, 0]  # only the batch's s_i are redrawn
    # eq. 7 with the new assignments: each centre took one sample, counts 1 → 2
    np.testing.assert_allclose(head.centers.numpy(), [[0.5, 0.0], [9.5, 0.0]])
    np.testing.assert_allclose(head.counts.numpy(), [2.0, 2.0])


def test_without_kept_assignments_a_step_trains_towards_the_nearest_centre():
    head = _head(kept=False)
    z = torch.tensor([[9.0, 0.0], [1.0, 0.0]])
    assert head.step_assignments(z, torch.tensor([0, 3])).tolist() == [1, 0]
    head.after_step(lambda xb: xb, z, torch.tensor([0, 3]))
    assert head.assignments is None


def test_new_centres_redraw_every_kept_assignment():
    head = _head(kept=True)
    codes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0], [10.0, 0.0]])
    head.replace_centers(torch.tensor([[10.0, 0.0], [0.0, 0.0]]), lambda: codes)  # swapped
    assert head.assignments.tolist() == [1, 1, 0, 0]
    plain = _head(kept=False)
    plain.replace_centers(torch.tensor([[1.0, 1.0], [2.0, 2.0]]), lambda: 1 / 0)  # never asked
    assert plain.centers.tolist() == [[1.0, 1.0], [2.0, 2.0]]


class _Recluster:
    """A callback that replaces the centres mid-fit and records the kept assignments."""

    def __init__(self):
        self.checked = False

    def on_epoch_end(self, epoch: int, model) -> bool:
        if epoch == 0:
            model.set_centers(model.head_.centers.flip(0))
            codes = model.transform_tensor(model._x)
            expected = torch.cdist(codes, model.head_.centers).argmin(1)
            assert torch.equal(model.head_.assignments, expected)
            self.checked = True
        return False


def test_dcn_keeps_assignments_after_pretraining_and_brb_redraws_them():
    x, _ = make_blobs(n_samples=120, n_features=6, centers=3, random_state=0)
    options = {"clustering_epochs": 2, "hidden": (8,), "batch_size": 32, "random_state": 0}
    scratch = DCN(3, pretrain_epochs=0, **options).fit(x)
    assert scratch.recipe_["assignments"] == "nearest" and scratch.head_.assignments is None
    callback = _Recluster()
    # final_kmeans=False: the head's own centres at the end (after pretraining the default
    # replaces them by a final k-Means and redraws every s_i, tests/deep/test_centroid_defaults)
    model = DCN(3, pretrain_epochs=2, callbacks=[callback], final_kmeans=False, **options)
    model.fit(x)
    assert model.recipe_["assignments"] == "kept" and callback.checked
    # every sample was reassigned at its last step: mostly its final nearest centre
    assert np.mean(model.head_.assignments.numpy() == model.labels_) > 0.9
