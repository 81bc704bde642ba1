"""The ``lcc`` command: ``lcc run CONFIG.yaml [key=value ...] [--scheduler WHERE]``, ``lcc doctor``.

``--scheduler`` runs the LCC correction step on a Dask cluster: ``local``
(CPU worker processes), ``local-cuda`` (one worker per GPU), ``auto`` (GPUs if
present) or the address of a running scheduler (``tcp://host:8786``).

``lcc doctor`` checks the installation (versions, GPUs, backends, an engine
smoke test per backend) and exits non-zero when something installed is broken.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main"]

PIPELINES = {
    "lcc_finetune": "lcc.pipelines.lcc_finetune",
    "deep_clustering": "lcc.pipelines.deep_clustering",
    "representation": "lcc.pipelines.representation",
    "ssc": "lcc.pipelines.ssc",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lcc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a pipeline config")
    run.add_argument("config", help="YAML config, e.g. pipelines/configs/lcc_demo.yaml")
    run.add_argument("overrides", nargs="*", help="dotted overrides, e.g. finetune.epochs=2")
    run.add_argument(
        "--scheduler",
        metavar="WHERE",
        help="Dask cluster for the correction step: local | local-cuda | auto | ADDRESS",
    )
    sub.add_parser("doctor", help="check the installation: versions, GPUs, backends, smoke tests")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from lcc.doctor import main as doctor

        return doctor()

    import importlib

    import yaml

    from lcc.config import load_config

    if not os.path.isfile(args.config):
        parser.error(f"config file {args.config!r} does not exist")
    with open(args.config) as fh:
        pipeline = (yaml.safe_load(fh) or {}).get("pipeline", "lcc_finetune")
    if pipeline not in PIPELINES:
        parser.error(f"unknown pipeline {pipeline!r}; known: {sorted(PIPELINES)}")
    if args.scheduler is not None:
        from lcc.distributed import resolve_scheduler

        if pipeline != "lcc_finetune":
            parser.error(f"--scheduler applies to the lcc_finetune pipeline, not {pipeline!r}")
        try:
            resolve_scheduler(args.scheduler)
        except (TypeError, ValueError) as err:
            parser.error(str(err))
        args.overrides.append(f"lcc.scheduler={args.scheduler}")
    module = importlib.import_module(PIPELINES[pipeline])
    defaults = {"pipeline": pipeline} | module.DEFAULTS
    try:
        config = load_config(args.config, args.overrides, defaults)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    run_dir = module.run({k: v for k, v in config.items() if k != "pipeline"})
    print(f"run_dir={run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
