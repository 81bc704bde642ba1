"""CDC's mini-batch losses (Trinh & Pham, "Learning discriminative representations
for deep clustering"): the Student-t pairwise similarity distribution (eq. 5),
the correlation loss (eq. 6, used in eq. 7 and eq. 12) and the affinity loss
(eq. 11).

Everything is computed in log space: ``log C`` is the log-kernel minus a
``logsumexp`` normaliser, so no ``log(0)`` or bare epsilon appears, and the
excluded diagonal is removed with a mask *after* the products, which keeps the
gradients finite for duplicate points and tiny batches.

Two formulations: the paper's and the authors' code
-----------------------------------------------------
:data:`FORMULATIONS` names the two; the loss functions take their three
switches (``diagonal``, ``normalization``, ``sharpen``) one by one.

* ``"paper"`` — eq. 5 as printed: one distribution over all ordered pairs
  ``k ≠ l`` of the mini-batch (as in t-SNE), **joint** normalisation with the
  **diagonal excluded**, and eq. 6 compares the plain ``C_Z`` with ``C_X``.
  These are the functions' defaults (``normalization="joint"``,
  ``diagonal="exclude"``, ``sharpen=False``).
* ``"authors"`` — what the authors' released Keras code
  (github.com/fict-labs/Deep-Clustering-CDC, ``our_HDC.py``) computes, and so
  what produced the paper's Tables 2–3 (its ``results_report_final.txt`` holds
  Table 3's AE* and L_DC columns trial by trial):

  - ``ae_make_t_students`` (our_HDC.py, lines 67–78): the Student-t kernel of
    all pairs *including* ``i = j`` (kernel 1), each **row** divided by its own
    sum (``K.transpose(K.transpose(q) / K.sum(q, axis=1))``), clipped to
    ``[1e-10, 1]``;
  - ``compute_corr_loss`` (lines 81–106): the matrix of the *lower-dimensional*
    side is **sharpened** with ``target_distribution`` (lines 42–47: eq. 10,
    ``q² / column sum``, rows renormalised) and is the first argument of
    Keras' ``KLDivergence`` (reduction NONE, line 23: a KL per row), averaged
    over rows (``K.mean``). At the code layer (line 146, ``z`` vs the input
    ``x``) and at the output (line 156, ``x'`` vs ``z``) this is
    ``KL(sharpen(C_Z) ‖ C_X)`` and ``KL(sharpen(C_Z) ‖ C_X')``: eq. 6 with
    ``C_Z`` sharpened;
  - ``compute_aff_loss`` (lines 214–229): the same row-normalised,
    diagonal-kept kernels for ``C_Q`` and ``C_Z``, ``C_Q`` sharpened, the row
    KLs averaged — eq. 11 with ``sharpen_target=True``.

  Not reproduced: the clipping (``[1e-10, 1]`` in the kernel, ``[1e-7, 1]``
  inside Keras' KL); everything here is in log space. It only moves entries
  below 1e-7, whose KL terms are below ~1e-6.

The two differ in scale: on the same batch the authors' value is about 3×
the paper's (3.1× at AE* on load_digits and the MNIST subset,
``benchmarks/results/cdc.txt``), so the weights λ = β = 1e-3 that the paper reports (section 4.4;
``data_cdc.py`` line 14, ``weight_params``), which were tuned with the code,
act much more weakly on the eq.-5 form.

The remaining choices, the same in both: eq. 6 puts the *embedding* side first
in the KL (``KL(C_Z ‖ C_X)``), and nothing is stop-gradient'ed (the paper
detaches nothing; in the Keras code both sides are graph tensors). Eq. 11:
``L_a = KL(C_Q ‖ C_Z)``, where "C_Q plays the role of target labels and is
computed in a similar manner to P in Equation 10": ``C_Q`` is sharpened with
eq. 10 before the KL (``sharpen_target=True``, as the code). Algorithm 1
updates the centres μ with ``L_c + η L_a`` (line 12), and ``L_a`` reaches μ
only through ``C_Q``, so ``C_Q`` is *not* detached by default either.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "FORMULATIONS",
    "affinity_loss",
    "correlation_loss",
    "log_pairwise_similarity",
    "pairwise_similarity",
    "sharpen_pairwise",
]

FORMULATIONS: dict[str, dict[str, Any]] = {
    "paper": {"diagonal": "exclude", "normalization": "joint", "sharpen": False},
    "authors": {"diagonal": "include", "normalization": "row", "sharpen": True},
}
"""The switches of :func:`correlation_loss` for eq. 5–6 as printed (``"paper"``) and as
the authors' code computes them (``"authors"``); :func:`affinity_loss` takes the same
``diagonal`` and ``normalization`` (its ``C_Q`` is sharpened in both). See the module
docstring."""

_DIAGONAL = ("exclude", "include")
_NORMALIZATION = ("joint", "row")


def _check_options(dof: float, diagonal: str, normalization: str) -> None:
    if diagonal not in _DIAGONAL:
        raise ValueError(f"diagonal={diagonal!r} is not supported; choose one of {_DIAGONAL}")
    if normalization not in _NORMALIZATION:
        raise ValueError(
            f"normalization={normalization!r} is not supported; choose one of {_NORMALIZATION}"
        )
    if not isinstance(dof, int | float) or isinstance(dof, bool) or not dof > 0:
        raise ValueError(f"dof must be a positive number, got {dof!r}")


def _check_batch(x: torch.Tensor, name: str, diagonal: str) -> None:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, features), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    minimum = 2 if diagonal == "exclude" else 1
    if len(x) < minimum:
        raise ValueError(
            f"{name} has {len(x)} sample(s); diagonal={diagonal!r} needs at least {minimum}"
        )


def _masked_logsumexp(logits: torch.Tensor, keep: torch.Tensor | None, dim) -> torch.Tensor:
    """``logsumexp`` over the kept entries (the masked ones count as ``exp(-inf) = 0``)."""
    if keep is not None:
        logits = logits.masked_fill(~keep, float("-inf"))
    return torch.logsumexp(logits, dim=dim, keepdim=True)


def _off_diagonal(m: int, device: torch.device, diagonal: str) -> torch.Tensor | None:
    if diagonal == "include":
        return None
    return ~torch.eye(m, dtype=torch.bool, device=device)


def _normalize(logits: torch.Tensor, keep: torch.Tensor | None, normalization: str):
    dim = (0, 1) if normalization == "joint" else 1
    return logits - _masked_logsumexp(logits, keep, dim)


def log_pairwise_similarity(
    x: torch.Tensor,
    dof: float = 1.0,
    diagonal: str = "exclude",
    normalization: str = "joint",
) -> torch.Tensor:
    """``log C(x_i, x_j)`` of eq. 5 for a ``(m, d)`` mini-batch, as an ``(m, m)`` matrix.

    ``C(x_i, x_j) = (1 + ‖x_i − x_j‖² / α)^(−(α+1)/2) / Σ_{k≠l} (1 + ‖x_k − x_l‖² / α)^(−(α+1)/2)``
    with ``α = dof`` (1 in the paper). With ``diagonal="exclude"`` the diagonal
    entries of the returned matrix are finite but meaningless (``C_ii = 0``):
    mask them out; :func:`pairwise_similarity` zeroes them.
    """
    _check_options(dof, diagonal, normalization)
    _check_batch(x, "x", diagonal)
    sq = x.pow(2).sum(1)
    # ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j, clamped: the duplicates' round-off is ≤ 0 and has
    # zero gradient there (the exact gradient 2(x_i − x_j) is 0 too).
    d2 = (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_min(0.0)
    d2 = d2 * (1.0 - torch.eye(len(x), dtype=x.dtype, device=x.device))
    logits = -(dof + 1.0) / 2.0 * torch.log1p(d2 / dof)
    return _normalize(logits, _off_diagonal(len(x), x.device, diagonal), normalization)


def pairwise_similarity(
    x: torch.Tensor,
    dof: float = 1.0,
    diagonal: str = "exclude",
    normalization: str = "joint",
) -> torch.Tensor:
    """The Student-t pairwise similarity distribution ``C_X = {C(x_i, x_j)}`` (eq. 5).

    Parameters
    ----------
    x : (m, d) tensor
        One mini-batch (the paper computes C over the pairs of a mini-batch).
    dof : float, default 1.0
        Degrees of freedom α of the Student-t kernel (α = 1 in the paper).
    diagonal : {"exclude", "include"}, default "exclude"
        Eq. 5 normalises over ``k ≠ l``, so ``C_ii = 0`` ("exclude"); "include"
        keeps the ``i = j`` pairs (kernel value 1) in the distribution.
    normalization : {"joint", "row"}, default "joint"
        Eq. 5 divides by one sum over all pairs: the matrix sums to 1
        ("joint"). "row" makes every row sum to 1 instead.
    """
    log_c = log_pairwise_similarity(x, dof, diagonal, normalization)
    keep = _off_diagonal(len(x), x.device, diagonal)
    c = log_c.exp()
    return c if keep is None else c * keep


def sharpen_pairwise(
    log_c: torch.Tensor, diagonal: str = "exclude", normalization: str = "joint"
) -> torch.Tensor:
    """Eq. 10 applied to a pairwise matrix: ``w_it = C_it² / f_t``, ``f_t = Σ_i C_it``.

    Returns ``log`` of ``w`` renormalised as ``C`` was (jointly, or per row,
    where it is exactly eq. 10 with pairs in place of clusters). This is how
    the paper builds the affinity target ``C_Q`` ("computed in a similar
    manner to P in Equation 10").
    """
    keep = _off_diagonal(len(log_c), log_c.device, diagonal)
    log_f = _masked_logsumexp(log_c, keep, 0)  # column sums f_t
    return _normalize(2.0 * log_c - log_f, keep, normalization)


def _kl(
    log_p: torch.Tensor, log_q: torch.Tensor, keep: torch.Tensor | None, normalization: str
) -> torch.Tensor:
    """``KL(P ‖ Q) = Σ_ij p_ij (log p_ij − log q_ij)`` over the kept pairs.

    Joint normalisation: the sum over all pairs (one distribution). Row
    normalisation: each row is a distribution; the row KLs are averaged.
    """
    terms = log_p.exp() * (log_p - log_q)
    if keep is not None:
        terms = torch.where(keep, terms, torch.zeros_like(terms))
    total = terms.sum()
    return total if normalization == "joint" else total / len(log_p)


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    for t, name in zip((a, b), names, strict=True):
        if not torch.is_tensor(t):
            raise TypeError(f"{name} must be a torch tensor, got {type(t).__name__}")
    if len(a) != len(b):
        raise ValueError(
            f"{names[0]} and {names[1]} must hold the same samples, got {len(a)} and {len(b)} rows"
        )


def correlation_loss(
    z: torch.Tensor,
    x: torch.Tensor,
    *,
    dof: float = 1.0,
    diagonal: str = "exclude",
    normalization: str = "joint",
    stop_gradient_target: bool = False,
    sharpen: bool = False,
) -> torch.Tensor:
    """The correlation loss ``L_cr(Z, X) = KL(C_Z ‖ C_X)`` over a mini-batch (eq. 6).

    Used twice in the pre-training loss ``L_AE = λ [L_cr(Z, X) + L_cr(Z, X')] + L_r``
    (eq. 7) and in the fine-tuning regulariser ``L_re = L_cr(Z, X) + L_cr(Z, X')``
    (eq. 12); ``z`` is the embedding batch and ``x`` the input (or the
    reconstruction X'), row ``i`` of both being the same sample.

    Parameters
    ----------
    z, x : (m, d_z) and (m, d_x) tensors
    dof, diagonal, normalization
        See :func:`pairwise_similarity` (defaults: eq. 5).
    stop_gradient_target : bool, default False
        Detach ``C_X`` (the second argument). The paper detaches nothing; for
        ``x = X`` (the input) it makes no difference, for ``x = X'`` it stops the
        decoder from receiving this term.
    sharpen : bool, default False
        Replace ``C_Z`` by its eq.-10 sharpening (:func:`sharpen_pairwise`)
        before the KL. Off in the paper's eq. 6; the authors' released code
        does this.
    """
    _check_pair(z, x, ("z", "x"))
    log_cz = log_pairwise_similarity(z, dof, diagonal, normalization)
    log_cx = log_pairwise_similarity(x, dof, diagonal, normalization)
    if sharpen:
        log_cz = sharpen_pairwise(log_cz, diagonal, normalization)
    if stop_gradient_target:
        log_cx = log_cx.detach()
    return _kl(log_cz, log_cx, _off_diagonal(len(z), z.device, diagonal), normalization)


def affinity_loss(
    q: torch.Tensor,
    z: torch.Tensor,
    *,
    dof: float = 1.0,
    diagonal: str = "exclude",
    normalization: str = "joint",
    sharpen_target: bool = True,
    stop_gradient_target: bool = False,
) -> torch.Tensor:
    """The affinity loss ``L_a = KL(C_Q ‖ C_Z)`` over a mini-batch (eq. 11).

    ``C_Q = {C(q_i, q_t)}`` is the Student-t pairwise distribution (eq. 5) of
    the soft assignments ``q_i`` (eq. 8) and ``C_Z`` that of the embeddings:
    points assigned alike should lie close together.

    Parameters
    ----------
    q : (m, K) tensor
        Soft assignments of the batch (rows of Q, eq. 8).
    z : (m, d) tensor
        Embeddings of the same samples.
    dof, diagonal, normalization
        See :func:`pairwise_similarity` (defaults: eq. 5).
    sharpen_target : bool, default True
        The paper's text: ``C_Q`` "plays the role of target labels and is
        computed in a similar manner to P in Equation 10", so ``C_Q`` is
        sharpened by :func:`sharpen_pairwise`. ``False`` uses eq. 11's plain
        ``C(q_i, q_t)``.
    stop_gradient_target : bool, default False
        Detach ``C_Q``. The paper does not: Algorithm 1 (line 12) updates the
        centres with ``L_c + η L_a``, which needs the gradient through ``C_Q``.
    """
    _check_pair(q, z, ("q", "z"))
    log_cq = log_pairwise_similarity(q, dof, diagonal, normalization)
    if sharpen_target:
        log_cq = sharpen_pairwise(log_cq, diagonal, normalization)
    if stop_gradient_target:
        log_cq = log_cq.detach()
    log_cz = log_pairwise_similarity(z, dof, diagonal, normalization)
    return _kl(log_cq, log_cz, _off_diagonal(len(z), z.device, diagonal), normalization)
