"""``lcc layers MODEL``: the names ``lcc.layers`` takes, as the README shows them, and the one
rule for layer names in the config and the callback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from lcc.cli import main
from lcc.models import build_model, describe_layers

README = Path(__file__).resolve().parents[2] / "README.md"
COMMAND = ["layers", "torchvision/resnet18", "--n-classes", "100", "--depth", "1"]


def test_layers_of_resnet18_mark_the_head_and_the_latent_layer(capsys):
    assert main(COMMAND) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "torchvision/resnet18: 11,227,812 parameters; output shapes for one 3×32×32"
    )
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    assert rows["avgpool"][:5] == ["avgpool", "AdaptiveAvgPool2d", "512×1×1", "0", "latent:"]
    assert rows["fc"] == ["fc", "Linear", "100", "51,300", "head"]
    assert "layer4.1.bn2" not in rows  # --depth 1
    assert out.rstrip().endswith("with an output shape, e.g. lcc.layers=[avgpool]")


def test_the_readme_shows_the_command_as_it_prints(capsys):
    assert main(COMMAND) == 0
    printed = capsys.readouterr().out.rstrip("\n")
    block = re.search(
        r"\$ lcc layers torchvision/resnet18 [^\n]*\n(.*?)\n```", README.read_text(), re.S
    )
    assert block is not None and block.group(1) == printed


def test_every_name_and_its_output_shape():
    model = build_model("small_cnn", n_classes=4, in_channels=3)
    layers = {layer.name: layer for layer in describe_layers(model, (3, 32, 32))}
    assert list(layers) == [name for name, _ in model.named_modules() if name]
    assert layers["features.0"].output == (32, 32, 32) and layers["fc1.1"].output == (64,)
    assert layers["fc1"].role == "latent" and layers["fc2"].role == "head"
    assert layers["fc2"].parameters == 64 * 4 + 4


def test_hugging_face_layers_carry_the_wrapper_prefix(tmp_path, capsys):
    transformers = pytest.importorskip("transformers", reason="the huggingface extra (in dev)")
    config = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1])
    transformers.AutoModelForImageClassification.from_config(config).save_pretrained(tmp_path)
    assert main(["layers", f"hf/{tmp_path}", "--n-classes", "4"]) == 0
    out = capsys.readouterr().out
    roles = {line.split()[0]: line for line in out.splitlines() if "head" in line}
    assert "hf.resnet.pooler" in roles and "latent:" in roles["hf.resnet.pooler"]
    assert "hf.classifier.1" in roles and roles["hf.classifier.1"].rstrip().endswith("head")
    # a module whose output is not a tensor shows its type instead of a shape
    assert re.search(r"\nhf\.resnet +ResNetModel +\(BaseModelOutputWith\w+\) ", out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layers", "resnet99"], "unknown model 'resnet99'; a model name is 'small_cnn'"),
        (["layers", "timm/resnet99"], "unknown timm model 'resnet99'"),
        (["layers", "small_cnn", "--input", "32x32"], "--input: expected CxHxW"),
        (["layers", "resnet18", "--weights", "/no/w.pth"], "looked in: /no/w.pth"),
    ],
)
def test_bad_layers_commands_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lcc: error: ") and message in err and len(err.splitlines()) == 1


def test_an_unknown_layer_is_one_rule_in_the_callback_and_the_config(tmp_path):
    from lcc.config import ConfigError, load_config
    from lcc.pipelines.lcc_finetune import Config
    from lcc.training import LCCCallback

    data = TensorDataset(torch.zeros(8, 3, 32, 32), torch.arange(8) % 2)
    model = build_model("resnet18", n_classes=2)
    with pytest.raises(
        ValueError,
        match=r"\['avgpol'\] are not layers of the model \(ResNet\) "
        r"\(did you mean 'avgpool'",
    ):
        LCCCallback(model, ["avgpol"], data)
    with pytest.raises(ConfigError) as err:
        colour = ["data.name=cifar10", f"data.root={tmp_path}"]  # resnet18 takes RGB
        load_config(None, [*colour, "model.name=resnet18", "lcc.layers=[avgpol]"], Config)
    assert err.value.lines == [
        "lcc.layers: ['avgpol'] are not layers of resnet18 (did you mean 'avgpool' or "
        "'maxpool'?); `lcc layers resnet18` lists them"
    ]
    pytest.importorskip("timm", reason="the timm extra (in dev)")
    timm_vit = ["model.name=timm/test_vit", "lcc.layers=[norm]"]  # checked on the meta device
    assert load_config(None, timm_vit, Config).lcc.layers == ["norm"]
