"""DEC / IDEC / DCN and CDC pass scikit-learn's estimator checks (tiny networks, one epoch)."""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from lcc.deep import CDC, DCN, DEC, IDEC

ESTIMATORS = [
    cls(3, pretrain_epochs=0, clustering_epochs=1, hidden=(8,), n_init=1, device="cpu")
    for cls in (DEC, IDEC, DCN)
] + [CDC(3, pretrain_epochs=0, clustering_epochs=1, hidden=(8,), n_init=1, device="cpu")]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
