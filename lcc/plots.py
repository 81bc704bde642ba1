"""PNG plots of training runs (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "embed_2d",
    "plot_accuracy",
    "plot_cc_mc_accuracy",
    "plot_curves",
    "plot_embeddings",
    "plot_history",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    from lcc.io import write_atomic

    plt = _pyplot()
    write_atomic(path, lambda p: fig.savefig(p, dpi=120, bbox_inches="tight", format="png"))
    plt.close(fig)
    return Path(path)


def plot_accuracy(runs: dict[str, list[dict[str, Any]]], path: str | Path) -> Path:
    """Train (dashed) and test (solid) accuracy per epoch, one colour per run."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, history) in enumerate(runs.items()):
        epochs = [r["epoch"] + 1 for r in history]
        colour = f"C{i}"
        ax.plot(
            epochs, [r["train_acc"] for r in history], "--", color=colour, label=f"{name} train"
        )
        if history and "val_acc" in history[0]:
            ax.plot(
                epochs, [r["val_acc"] for r in history], "-o", color=colour, label=f"{name} test"
            )
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel("accuracy")
    ax.set_title("Baseline vs LCC fine-tuning")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_cc_mc_accuracy(
    runs: dict[str, list[dict[str, Any]]], layers: list[str], path: str | Path
) -> Path:
    """Accuracy on all / CC / MC samples per epoch and layer (the paper's Fig. 3–4, eq. 9)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(layers), figsize=(5 * len(layers), 4), squeeze=False)
    styles = {"acc_cc": ("tab:blue", "CC"), "acc_mc": ("tab:red", "MC"), "acc_all": ("k", "all")}
    for ax, layer in zip(axes[0], layers, strict=True):
        for r, (name, history) in enumerate(runs.items()):
            rows = [h for h in history if f"{layer}/acc_all" in h]
            epochs = [h["epoch"] + 1 for h in rows]
            for key, (colour, label) in styles.items():
                ax.plot(
                    epochs,
                    [h[f"{layer}/{key}"] for h in rows],
                    "-o" if r else ":s",
                    color=colour,
                    label=f"{label} ({name})",
                )
        ax.set_title(f"layer {layer}: accuracy of CC vs MC samples")
        ax.set_xlabel("fine-tuning epoch")
        ax.set_ylabel("accuracy (training set)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_curves(
    runs: dict[str, list[dict[str, Any]]], key: str, ylabel: str, path: str | Path
) -> Path:
    """One curve per run of ``record[key]`` per epoch; BRB reset epochs marked by dotted lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, history) in enumerate(runs.items()):
        colour = f"C{i % 10}"
        ax.plot(
            [h["epoch"] + 1 for h in history], [h[key] for h in history], color=colour, label=name
        )
        for h in history:
            if h.get("reset"):
                ax.axvline(h["epoch"] + 1, color=colour, ls=":", lw=0.8, alpha=0.6)
    ax.set_xlabel("clustering epoch (dotted: BRB resets)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_history(
    history: list[dict[str, Any]], keys: list[str], path: str | Path, title: str = ""
) -> Path:
    """One panel per ``record[key]`` against the epoch (loss terms, temperature, metrics).

    Keys absent from every record are skipped; with a ``phase`` key the
    panels share one x axis over all phases and phase changes are marked.
    """
    plt = _pyplot()
    keys = [k for k in keys if any(k in h for h in history)]
    cols = min(3, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    steps = list(range(1, len(history) + 1))
    changes = [
        i + 1
        for i in range(1, len(history))
        if history[i].get("phase") != history[i - 1].get("phase")
    ]
    for ax, key in zip(axes.flat, keys, strict=False):
        ax.plot(steps, [h.get(key, float("nan")) for h in history], color="C0")
        for c in changes:
            ax.axvline(c - 0.5, color="grey", ls=":", lw=0.8)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def embed_2d(z: Any, method: str = "tsne", seed: int = 0) -> Any:
    """2-D picture coordinates of ``z``: scikit-learn t-SNE, or UMAP if ``umap-learn`` is there."""
    import numpy as np

    z = np.asarray(z, dtype=np.float32)
    if method == "umap":
        try:
            import umap
        except ImportError as err:
            raise ImportError("method='umap' needs umap-learn: pip install umap-learn") from err
        return umap.UMAP(random_state=seed).fit_transform(z)
    if method != "tsne":
        raise ValueError(f"method must be 'tsne' or 'umap', got {method!r}")
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(z) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)


def plot_embeddings(panels: dict[str, tuple[Any, Any]], path: str | Path) -> Path:
    """Side-by-side 2-D scatter plots ``{title: (xy, labels)}``, coloured by label."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.2), squeeze=False)
    for ax, (title, (xy, labels)) in zip(axes[0], panels.items(), strict=True):
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=4, alpha=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes[0].tolist(), shrink=0.8, label="label")
    return _save(fig, path)
