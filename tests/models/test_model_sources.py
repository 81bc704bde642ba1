"""Real models by name with weights from files the tests write: a torchvision, a timm and a
Hugging Face classifier each load them (a tensor compared), then train one LCC epoch.

Nothing may be downloaded: every test here runs with network connections refused.
"""

from __future__ import annotations

import socket
import sys

import pytest
import torch
from safetensors.torch import save_file
from torch.utils.data import TensorDataset

from lcc.models import WeightsNotFoundError, build_model
from lcc.training import LCCCallback, train


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any connection attempt fails loudly: weights come from local files or nowhere."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is as fast, and kinder to the machine
    yield
    torch.set_num_threads(threads)


def synthetic(n: int = 64, classes: int = 4) -> TensorDataset:
    """CIFAR-shaped images (3×32×32) whose class shifts each channel's mean."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % classes
    means = torch.randn(classes, 3, 1, 1, generator=g)
    return TensorDataset(means[y] + 0.5 * torch.randn(n, 3, 32, 32, generator=g), y)


def one_lcc_epoch(model: torch.nn.Module, layer: str) -> dict:
    """One epoch of training with the LCC term (a correction at its start); its record."""
    data = synthetic()
    callback = LCCCallback(model, [layer], data, warmup=0, k=5, batch_size=32)
    try:
        (record,) = train(model, data, epochs=1, batch_size=16, callback=callback, progress=False)
    finally:
        callback.close()
    assert record[f"{layer}/n_clusters"] >= 1 and 0 <= record[f"{layer}/mc_fraction"] <= 1
    assert torch.isfinite(torch.tensor([record["task_loss"], record["lcc_loss"]])).all()
    return record


def test_torchvision_resnet18_from_a_pth_file(tmp_path):
    import torchvision

    torch.manual_seed(1)
    source = torchvision.models.resnet18(num_classes=1000)  # as an ImageNet checkpoint
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = build_model("torchvision/resnet18", n_classes=4, weights=str(path))
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    assert model.fc.out_features == 4  # the head of 1000 classes is re-initialised
    one_lcc_epoch(model, "avgpool")


def test_a_bare_torchvision_name_still_works(tmp_path):
    torch.manual_seed(2)
    source = build_model("resnet18", n_classes=4)
    save_file(source.state_dict(), tmp_path / "mine.safetensors")
    model = build_model("resnet18", n_classes=4, weights=str(tmp_path / "mine.safetensors"))
    assert torch.equal(model.fc.weight, source.fc.weight)  # a head of the right size is kept


def test_timm_model_from_a_safetensors_file(tmp_path):
    timm = pytest.importorskip("timm", reason="the timm extra (in dev)")
    torch.manual_seed(3)
    source = timm.create_model("test_resnet", num_classes=1000)
    path = tmp_path / "test_resnet.safetensors"
    save_file(source.state_dict(), path)
    model = build_model("timm/test_resnet", n_classes=4, weights=str(path))
    assert torch.equal(model.conv1[0].weight, source.conv1[0].weight)
    assert model.get_classifier().out_features == 4
    one_lcc_epoch(model, "global_pool")
    # a fine-tuned file whose head has the classes asked for keeps its head
    save_file(model.state_dict(), tmp_path / "tuned.safetensors")
    again = build_model(
        "timm/test_resnet", n_classes=4, weights=str(tmp_path / "tuned.safetensors")
    )
    assert torch.equal(again.fc.weight, model.fc.weight)


@pytest.fixture
def hf_folder(tmp_path):
    """A tiny ResNet image classifier saved with ``save_pretrained`` (config + weights)."""
    transformers = pytest.importorskip("transformers", reason="the huggingface extra (in dev)")
    config = transformers.ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=7
    )
    torch.manual_seed(4)
    model = transformers.AutoModelForImageClassification.from_config(config)
    model.save_pretrained(tmp_path / "tiny-resnet")
    return tmp_path / "tiny-resnet", model


def test_hugging_face_model_from_its_folder_and_from_a_file(hf_folder, tmp_path):
    folder, saved = hf_folder
    stem = "hf.resnet.embedder.embedder.convolution.weight"
    model = build_model(f"hf/{folder}", n_classes=4, weights="pretrained")
    assert torch.equal(model.get_parameter(stem), saved.get_parameter(stem[3:]))
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)  # logits, a new head of 4
    # another model's tensors in a file: those are the ones loaded, not the folder's
    torch.manual_seed(5)
    other = build_model(f"hf/{folder}", n_classes=7)
    save_file(other.hf.state_dict(), tmp_path / "other.safetensors")
    model = build_model(f"hf/{folder}", n_classes=4, weights=str(tmp_path / "other.safetensors"))
    assert torch.equal(model.get_parameter(stem), other.get_parameter(stem))
    assert not torch.equal(model.get_parameter(stem), saved.get_parameter(stem[3:]))
    one_lcc_epoch(model, "hf.resnet.pooler")


def test_missing_weights_name_every_place_looked_in(tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    cases = [
        ("torchvision/resnet18", "IMAGENET1K_V1", [hub / "resnet18-f37072fd.pth"]),
        ("resnet18", str(tmp_path / "no.safetensors"), [tmp_path / "no.safetensors"]),
        ("small_cnn", str(tmp_path), [tmp_path / "model.safetensors", tmp_path / "model.pt"]),
        (
            "timm/resnet18.a1_in1k",
            "pretrained",
            [
                tmp_path / "hf" / "models--timm--resnet18.a1_in1k",
                hub / "resnet18_a1_0-d63eafa0.pth",
            ],
        ),
        ("hf/acme/no-such-model", None, [tmp_path / "hf" / "models--acme--no-such-model"]),
    ]
    for name, weights, places in cases:
        with pytest.raises(WeightsNotFoundError) as missing:
            build_model(name, n_classes=4, weights=weights)
        assert "not found; looked in: " in str(missing.value)
        assert all(str(place) in str(missing.value) for place in places), str(missing.value)


@pytest.mark.parametrize(
    ("name", "module", "extra"),
    [("timm/test_resnet", "timm", "timm"), ("hf/acme/model", "transformers", "huggingface")],
)
def test_a_missing_extra_names_its_pip_install(monkeypatch, name, module, extra):
    from lcc.config import ConfigError, load_config
    from lcc.pipelines.lcc_finetune import Config

    monkeypatch.setitem(sys.modules, module, None)  # `import timm` fails as if not installed
    with pytest.raises(ModuleNotFoundError, match=rf"pip install 'lcc-torch\[{extra}\]'"):
        build_model(name, n_classes=4)
    with pytest.raises(ConfigError) as err:
        load_config(None, [f"model.name={name}", "lcc.layers=[fc]"], Config)
    (line,) = err.value.lines
    assert line.startswith("model.name: ") and f"lcc-torch[{extra}]" in line


def test_lcc_imports_without_the_extras():
    import subprocess

    code = (
        "import sys; sys.modules['timm'] = sys.modules['transformers'] = None; "
        "import lcc, lcc.models, lcc.training, lcc.pipelines.lcc_finetune, lcc.cli; "
        "lcc.models.build_model('torchvision/resnet18', n_classes=3)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_greyscale_data_and_a_torchvision_model_is_a_clear_error():
    with pytest.raises(ValueError, match=r"takes 3-channel .* the data have 1 channel"):
        build_model("torchvision/resnet18", n_classes=10, in_channels=1)
