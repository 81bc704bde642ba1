"""Sharded execution: the engine on latent sets sharded by samples across a Dask cluster.

Input is a ``dask.array.Array`` chunked along samples only, whose chunks are
numpy (CPU workers) or cupy (GPU workers); results are Dask arrays chunked
like the input, computed (persisted on the workers) before they are returned.
The public functions in :mod:`lcc` route Dask input here; a cluster comes from
:func:`lcc.distributed.cluster` (any default ``distributed.Client`` works).
Without a client the input is computed into this process and the
single-process engine runs on it.

What runs where — said plainly, because it decides what scales:

=====================  ======================================================
step                   CPU workers (numpy chunks)
=====================  ======================================================
``knn`` / exact        every worker gathers the latents once, block by block,
                       into one dense array; the *queries* are sharded: each
                       block's rows are searched on a worker (numpy BLAS +
                       faiss heaps, the single-process code).
``knn`` / approximate  the IVF coarse quantizer is trained on the client from a
                       sample; every worker then fills its own faiss IVF-Flat
                       index block by block (the index *is* its one copy of
                       the latents) and searches its share of the blocks.
``knn_graph``          symmetrised by block pairs on the workers; σ = "median"
                       gathers the ``n`` k-th neighbour distances to the client.
``leiden``             gathers the sparse graph to the client: igraph is
                       single-process.
``kmeans``             gathers the latents to the client (scikit-learn).
``truncated_svd``      ``dask.array.linalg.svd_compressed`` (distributed,
                       randomised, 4 power iterations).
``match_clusters``     gathers the two label vectors (``n`` integers each).
``correction_targets`` matching on the client; exact mode: every worker
                       gathers the correctly clustered samples once (one array
                       per label), the misclustered queries are sharded;
                       approximate mode: the representatives (one per
                       cluster) go to every task; orthogonal mode gathers
                       the latents to the client.
=====================  ======================================================

On GPU workers (cupy chunks) RAPIDS' multi-GPU estimators run instead:
``cuml.dask.neighbors.NearestNeighbors`` (brute force, for ``exact=False``
too), ``cuml.dask.cluster.KMeans`` and ``cugraph.dask.leiden`` on a dask-cuDF
edge list; the other steps are the Dask glue above with cupy chunks.

Where it sits: the public engine functions (:mod:`lcc.neighbors`, :mod:`lcc.graph`, …)
place every call with :func:`lcc._dispatch.place`; a Dask input is placed on
``"dask"`` and handed here, explicitly (no registry, nothing registered by
importing). This layer runs the engine's kernels (:mod:`lcc.kernels`) block by
block and reaches faiss / cuML / cuGraph only through :mod:`lcc.backends`
(:mod:`lcc.backends.dask_gpu`, :mod:`lcc.backends.knn.cpu_ivf`); it never calls
back up into the public functions.
"""

from lcc.sharded import communities, correction, decomposition, neighbors
from lcc.sharded._plumbing import gather, survive_worker_loss

__all__ = [
    "communities",
    "correction",
    "decomposition",
    "gather",
    "neighbors",
    "survive_worker_loss",
]
