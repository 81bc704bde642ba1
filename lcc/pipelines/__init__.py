"""Batch pipelines run by the ``lcc`` command (configs in the repository's ``pipelines/``)."""
