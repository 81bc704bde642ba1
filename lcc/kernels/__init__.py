"""The engine's kernels: the computation between library calls, written once on ``xp``.

Each kernel receives a :class:`lcc._dispatch.Placement` (its ``xp`` / ``sparse``
modules and its backend object ``impl``) from the public function that placed
the call, or from :mod:`lcc.sharded` for one block of a Dask array, and computes
on arrays already on that device. Kernels validate nothing and never ask where
they run; they import only the dispatcher's types and each other.
"""
