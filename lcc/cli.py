"""The ``lcc`` command: ``lcc run CONFIG.yaml [key=value ...] [--scheduler WHERE]``, ``lcc doctor``.

The config is validated before anything runs: each problem is one line naming
the dotted key, the value and what is allowed, exit code 2.
``--print-config`` prints the resolved config (defaults filled in) and exits.
A problem around the run (a full disk, an unwritable or misplaced ``output_dir``, a damaged
checkpoint, a diverged run) is one line saying what was kept and how to go on, exit code 1;
``--debug`` shows its traceback instead.

``--scheduler`` runs the LCC correction step on a Dask cluster: ``local``
(CPU worker processes), ``local-cuda`` (one worker per GPU), ``auto`` (GPUs if
present) or the address of a running scheduler (``tcp://host:8786``).

``lcc doctor`` checks the installation (versions, GPUs, backends, an engine
smoke test per backend) and exits non-zero when something installed is broken.

``lcc layers MODEL [--weights W] [--n-classes N] [--input CxHxW] [--depth D]`` lists the
layers of a model by name (``small_cnn``, ``torchvision/<arch>``, ``timm/<name>``,
``hf/<repo id or folder>``) that ``lcc.layers`` takes: type, output shape for one input,
parameters, the head and the latent layer before it marked.

``lcc list [--configs DIR]`` names the pipelines and the shipped configs (from
``pipelines/configs`` in the current directory, else next to the package), each
with its one-line description.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from typing import Any, NoReturn

from lcc._registry import load, source_file

__all__ = ["main"]

PIPELINES = {
    "lcc_finetune": "lcc.pipelines.lcc_finetune",
    "deep_clustering": "lcc.pipelines.deep_clustering",
    "representation": "lcc.pipelines.representation",
    "ssc": "lcc.pipelines.ssc",
    "evaluate": "lcc.pipelines.evaluate",
}


class _Parser(argparse.ArgumentParser):
    """argparse, with what the user typed escaped in its error line (a ``\\r`` in an
    argument would otherwise break it)."""

    def error(self, message: str) -> NoReturn:
        printable = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        super().error(printable)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="lcc", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_arguments(sub.add_parser("run", help="run a pipeline config"))
    evaluate = sub.add_parser(
        "evaluate", help="algorithms × data sets × seeds into one table (pipeline: evaluate)"
    )
    _add_run_arguments(evaluate)
    sub.add_parser("doctor", help="check the installation: versions, GPUs, backends, smoke tests")
    listing = sub.add_parser("list", help="the pipelines and the shipped configs")
    listing.add_argument("--configs", metavar="DIR", help="a folder of configs to list instead")
    _add_layers_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "layers":
        return _layers(args)
    if args.command == "list":
        return _list(args.configs)
    if args.command == "doctor":
        from lcc.doctor import main as doctor

        return doctor()
    from lcc.checkpoint import CheckpointError
    from lcc.config import ConfigError

    try:
        module, config = _resolve(args)
    except ConfigError as err:
        for line in err.lines:
            print(f"lcc: error: {line}", file=sys.stderr)
        return 2
    if args.print_config:
        import yaml

        print(yaml.safe_dump(config.model_dump(), sort_keys=False), end="")
        return 0
    from lcc.pipelines import new_run_dir

    run_dir = Path(args.resume) if args.resume else None
    try:  # a new run's directory is made here, so that an error can say what it kept
        run_dir = run_dir or new_run_dir(config.model_dump())
        run_dir = module.run(config.model_dump(), run_dir)
    except (CheckpointError, FloatingPointError, OSError) as err:
        if args.debug:
            raise
        print(f"lcc: error: {_environment(err)}{_kept(run_dir)}", file=sys.stderr)
        return 1
    print(f"run_dir={run_dir}")
    return 0


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``lcc run``'s arguments, which ``lcc evaluate`` shares."""
    parser.add_argument(
        "config", nargs="?", help="YAML config, e.g. pipelines/configs/lcc_demo.yaml"
    )
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. finetune.epochs=2")
    parser.add_argument(
        "--scheduler",
        metavar="WHERE",
        help="Dask cluster for the correction step: local | local-cuda | auto | ADDRESS",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="go on from RUN_DIR's last checkpoint (its config.yaml; a CONFIG given must match)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (default: one line)"
    )


def _environment(err: BaseException) -> str:
    """What went wrong around the run, in one line (an OSError's errno said in words)."""
    if not isinstance(err, OSError):
        return str(err)
    name = repr(err.filename) if err.filename else "a file of the run"
    if err.errno == errno.ENOSPC:
        return f"no space left on the disk while writing {name}; free some space"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {name} ({err.strerror}); choose a writable output_dir"
    if err.errno in (errno.EEXIST, errno.ENOTDIR):
        return f"{name} is in the way: a file where a folder is needed (is output_dir a file?)"
    return f"{err.strerror or err} ({name})"


def _kept(run_dir: Path | None) -> str:
    """``; kept: …`` — what survives in the run directory and how to go on from it."""
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return "; nothing was written"
    from lcc.checkpoint import Checkpoints

    saved = Checkpoints(run_dir / "checkpoints").paths()
    if not saved:
        return f"; kept: {run_dir} (no checkpoint yet: run it again)"
    return f"; kept: {saved[-1]} — go on with `lcc run --resume {run_dir}`"


def _add_layers_parser(sub: Any) -> None:
    layers = sub.add_parser(
        "layers", help="a model's layers, the names lcc.layers takes (output shapes, parameters)"
    )
    layers.add_argument(
        "model",
        help="small_cnn, torchvision/<arch> (or <arch>), timm/<name>, hf/<repo id or folder>",
    )
    layers.add_argument("--weights", help="as model.weights: a local file or folder, or a name")
    layers.add_argument("--n-classes", type=int, default=10, help="outputs of the head (10)")
    layers.add_argument(
        "--input", default="3x32x32", metavar="CxHxW", help="one input's shape (3x32x32)"
    )
    layers.add_argument(
        "--depth", type=int, metavar="D", help="only names of at most D dotted parts"
    )


def _layers(args: argparse.Namespace) -> int:
    """Print the layers of ``args.model`` for one ``args.input`` input."""
    from lcc.models import build_model, describe_layers, format_layers

    try:
        shape = tuple(int(side) for side in args.input.lower().split("x"))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError
    except ValueError:
        print(
            f"lcc: error: --input: expected CxHxW such as 3x32x32, got {args.input!r}",
            file=sys.stderr,
        )
        return 2
    try:
        model = build_model(
            args.model, n_classes=args.n_classes, in_channels=shape[0], weights=args.weights
        )
        rows = describe_layers(model, shape)
    except (OSError, ValueError, ImportError, RuntimeError) as err:
        print(f"lcc: error: {err}", file=sys.stderr)
        return 2
    total, side = sum(p.numel() for p in model.parameters()), "×".join(map(str, shape))
    print(f"{args.model}: {total:,} parameters; output shapes for one {side} input")
    print(format_layers(rows, max_depth=args.depth))
    latent = next((r.name for r in rows if r.role == "latent"), None)
    if latent is not None:
        print(f"\nlcc.layers takes any name above with an output shape, e.g. lcc.layers=[{latent}]")
    return 0


def _list(configs: str | None) -> int:
    """Print every pipeline and config with its description (first docstring / comment line)."""
    import ast

    from lcc.config import ConfigError, read_yaml

    print("Pipelines")
    for name, module in PIPELINES.items():
        source = Path(source_file(module)).read_text()
        summary = (ast.get_docstring(ast.parse(source)) or "").split("\n")[0]
        print(f"  {name:<18}{summary}")
    if configs is not None and not Path(configs).is_dir():
        print(f"lcc: error: --configs: folder {configs!r} does not exist", file=sys.stderr)
        return 2
    folder = Path(configs) if configs else _shipped_configs()
    if folder is None:
        print("\nno pipelines/configs folder here or next to the package: pass --configs DIR")
        return 0
    print(f"\nConfigs ({folder}): lcc run <file> [key=value ...]")
    paths = sorted(folder.glob("*.yaml"))
    width = max((len(p.name) for p in paths), default=0) + 2
    unreadable = []
    for path in paths:
        try:
            text = path.read_text()
            pipeline = read_yaml(path).get("pipeline", "lcc_finetune")
        except (OSError, UnicodeDecodeError, ConfigError) as err:
            unreadable.append(f"{path.name} ({_reason(err)})")
            continue
        comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
        print(f"  {path.name:<{width}}{pipeline!s:<17}{(comments or [''])[0].rstrip(':')}")
    if unreadable:
        print(f"\ncould not read {len(unreadable)}: " + "; ".join(unreadable))
    return 0


def _reason(err: BaseException) -> str:
    """Why a config file could not be listed, in a few words."""
    from lcc.config import ConfigError

    if isinstance(err, ConfigError):
        return err.lines[0].split(": ", 1)[-1]
    return type(err).__name__ if isinstance(err, UnicodeDecodeError) else str(err.strerror)


def _shipped_configs() -> Path | None:
    """``pipelines/configs`` of the current directory, else of the source tree lcc runs from."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (root / "pipelines" / "configs").is_dir():
            return root / "pipelines" / "configs"
    return None


def _resolve(args: argparse.Namespace) -> tuple[Any, Any]:
    """The pipeline module named in the config file, and the validated config.

    With ``--resume RUN_DIR`` the config is the run's own ``config.yaml``; a
    CONFIG (and overrides) given as well must resolve to the same.
    """
    from lcc.config import ConfigError, load_config

    if args.resume is not None:
        return _resume_config(args)
    if args.config is None:
        raise ConfigError(["a CONFIG file is needed (or --resume RUN_DIR)"])
    module = _pipeline(args.config, "evaluate" if args.command == "evaluate" else None)
    overrides = list(args.overrides)
    if args.scheduler is not None:
        if module.__name__ != PIPELINES["lcc_finetune"]:
            name = module.__name__.rpartition(".")[2]
            raise ConfigError([f"--scheduler applies to the lcc_finetune pipeline, not {name!r}"])
        overrides.append(f"lcc.scheduler={args.scheduler}")
    return module, load_config(args.config, overrides, module.Config)


def _pipeline(path: str | Path, required: str | None = None) -> Any:
    """The pipeline module a config file names (``pipeline:``, default ``lcc_finetune``, or
    ``required``, which ``lcc evaluate`` sets)."""
    from lcc.config import ConfigError, read_yaml

    pipeline = read_yaml(path).get("pipeline", required or "lcc_finetune")
    if not isinstance(pipeline, str) or pipeline not in PIPELINES:
        raise ConfigError([f"pipeline: expected one of {sorted(PIPELINES)}, got {pipeline!r}"])
    if required is not None and pipeline != required:
        raise ConfigError([f"pipeline: lcc {required} runs {required} configs, got {pipeline!r}"])
    return load(PIPELINES[pipeline])


def _resume_config(args: argparse.Namespace) -> tuple[Any, Any]:
    from lcc.config import ConfigError, load_config

    saved = Path(args.resume) / "config.yaml"
    if not saved.is_file():
        raise ConfigError([f"--resume: {str(saved)!r} does not exist (not a run directory?)"])
    module = _pipeline(saved)
    config = load_config(saved, [], module.Config)
    if args.config is not None or args.overrides:
        wanted = _resolve(argparse.Namespace(**{**vars(args), "resume": None}))[1]
        differ = _differences(wanted.model_dump(), config.model_dump())
        if differ:
            given = " ".join([args.config or "", *args.overrides]).strip()
            raise ConfigError(
                [f"--resume: {given} differs from {saved} at {differ}; a resumed run goes on "
                 "with its own config, overrides cannot change it: start a new run to change "
                 f"{', '.join(differ)}"]
            )  # fmt: skip
    return module, config


def _differences(a: dict[str, Any], b: dict[str, Any], where: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            keys += _differences(a[key], b[key], f"{where}{key}.")
        elif a.get(key) != b.get(key):
            keys.append(f"{where}{key}")
    return keys


if __name__ == "__main__":
    sys.exit(main())
