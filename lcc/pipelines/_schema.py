"""Config pieces every pipeline shares: constrained numbers, the device, the data section,
and sections built from parameters declared as data (:func:`rule_section`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, create_model, model_validator

from lcc._validation import Parameter, Rule
from lcc.config import Section
from lcc.data import EMBEDDED, TORCHVISION

__all__ = [
    "CheckpointSection",
    "DataName",
    "DataSection",
    "Device",
    "NonNegFloat",
    "NonNegInt",
    "PosFloat",
    "PosInt",
    "RunConfig",
    "SeededRunConfig",
    "Seeds",
    "rule_section",
]

NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Seeds = Annotated[list[NonNegInt], Field(min_length=1)]
DataName = Literal[EMBEDDED + tuple(TORCHVISION)]  # type: ignore[valid-type]


def _device(name: str) -> str:
    """``auto``, ``cpu``, or a CUDA device this process can see (checked now, before
    anything trains, not when the first tensor moves)."""
    if not (name in ("auto", "cpu", "cuda") or (name[:5] == "cuda:" and name[5:].isdigit())):
        raise ValueError("expected auto, cpu, cuda or cuda:<index>")
    if name.startswith("cuda"):
        import torch

        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name[5:]) if ":" in name else 0
        if index >= visible:
            raise ValueError(
                f"{name!r} was requested but this process sees {visible} CUDA device(s) "
                "(torch.cuda.is_available() / CUDA_VISIBLE_DEVICES); use auto or cpu"
            )
    return name


Device = Annotated[str, AfterValidator(_device)]


def rule_section(
    name: str, parameters: Mapping[str, Parameter], exclude: Collection[str] = ()
) -> type[Section]:
    """A :class:`Section` whose fields are ``parameters`` (declared as data, e.g.
    :data:`lcc.correction.STEP_PARAMETERS`) but those in ``exclude``: their types and defaults,
    each value checked by its rule before pydantic's own validation, so a bad one gets the
    rule's one-line message, named by its dotted key (:func:`lcc.config.describe`)."""
    fields: dict[str, Any] = {
        key: (Annotated[p.annotation, BeforeValidator(_checked_by(key, p.rule))], p.default)
        for key, p in parameters.items()
        if key not in exclude
    }
    return create_model(name, __base__=Section, __module__=__name__, **fields)


def _checked_by(name: str, rule: Rule) -> Callable[[Any], Any]:
    """A pydantic validator: ``rule`` checks the value under ``name``, which it returns."""

    def check(value: Any) -> Any:
        rule.check(name, value)
        return value

    return check


class DataSection(Section):
    """``name``: an embedded set or a torchvision one read from ``root``."""

    name: DataName = "digits"
    root: str | None = None
    download: bool = False

    @model_validator(mode="after")
    def _folder(self) -> DataSection:
        """A torchvision set is read from ``root``: it must be given and exist (or download)."""
        if self.name in EMBEDDED or self.download:
            return self
        if self.root is None:
            raise ValueError(
                f"data.root: {self.name} is read from a local folder; set data.root "
                "(or data.download=true where there is internet)"
            )
        if not Path(self.root).is_dir():
            raise ValueError(f"data.root: folder {self.root!r} does not exist")
        return self


class FlatDataSection(DataSection):
    """A data set as flat rows for clustering (``standardize``: z-transform all pixels,
    ``before_resize`` with the statistics of the images at their own size, as the BRB
    authors; ``resize``: scale the images to ``resize × resize`` first)."""

    standardize: bool | Literal["before_resize"] = False
    resize: PosInt | None = None


class CheckpointSection(Section):
    """A checkpoint at the end of every epoch; ``keep`` the last few."""

    enabled: bool = True
    keep: PosInt = 1


class RunConfig(Section):
    """What every pipeline's config holds: the run's name, where runs go, checkpointing."""

    name: str
    output_dir: str = "runs"
    checkpoint: CheckpointSection = CheckpointSection()
    tensorboard: bool = True  # per-epoch metrics as live TensorBoard events, figures at the end


class SeededRunConfig(RunConfig):
    """A clustering pipeline: the seeds to repeat it with and its data as flat rows."""

    seeds: Seeds = [0]
    data: FlatDataSection = FlatDataSection(name="mnist_subset")
