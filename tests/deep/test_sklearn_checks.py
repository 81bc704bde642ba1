"""DEC / IDEC / DCN and CDC pass scikit-learn's estimator checks (tiny networks, one epoch)."""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from lcc.deep import CDC, DCN, DEC, IDEC

# batch_norm=False: from scratch the recipe puts BatchNorm in the MLP, and after one
# epoch on the check's 30 samples its running statistics (momentum 0.1, one update)
# are still far from the data's, so the eval-mode labels would not be those of the
# embedding that k-Means clustered; check_clustering's ARI > 0.4 is about the API.
ESTIMATORS = [
    cls(
        3,
        pretrain_epochs=0,
        clustering_epochs=1,
        hidden=(8,),
        n_init=1,
        batch_norm=False,
        device="cpu",
    )
    for cls in (DEC, IDEC, DCN)
] + [CDC(3, pretrain_epochs=0, clustering_epochs=1, hidden=(8,), n_init=1, device="cpu")]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
