"""The LCC paper's Table III protocol, ``pipelines/configs/lcc_cifar100_resnet18.yaml``, end to
end on CPU: the config as shipped (torchvision's ResNet-18 with ``IMAGENET1K_V1`` weights from
the torch hub cache, CIFAR-100 from ``data.root``, LCC on ``avgpool``), only shorter
(``finetune.epochs=2``) and on a tiny synthetic CIFAR-100 written in torchvision's format; the
hub cache holds a ResNet-18 checkpoint this test writes under the published file name."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import torch

from lcc.cli import main

CONFIG = (
    Path(__file__).resolve().parents[2] / "pipelines" / "configs" / "lcc_cifar100_resnet18.yaml"
)


def write_cifar100(root: Path, n_train: int = 192, n_test: int = 64, used: int = 8) -> None:
    """CIFAR-100's python files (``train``, ``test``, ``meta``) with 100 class names and
    ``used`` of them present, each class a shift of the pixels' mean."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    means = rng.uniform(100, 160, size=(used, 3, 1, 1))
    for name, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % used
        images = means[labels] + rng.normal(0, 60, size=(n, 3, 32, 32))
        data = np.clip(images, 0, 255).astype(np.uint8).reshape(n, 3072)
        entry = {"data": data, "fine_labels": labels.tolist(), "coarse_labels": [0] * n}
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = {"fine_label_names": [f"class_{i}" for i in range(100)]}
    (folder / "meta").write_bytes(pickle.dumps(meta))


def test_the_paper_protocol_config_runs_end_to_end(tmp_path, monkeypatch, capsys):
    import torchvision

    # the files have CIFAR-100's format, not its contents: their MD5 is not the published one
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args: True)
    write_cifar100(tmp_path / "cifar")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hub = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    hub.parent.mkdir(parents=True)
    torch.manual_seed(0)
    published = torchvision.models.resnet18(num_classes=1000).state_dict()  # 1000 classes
    torch.save(published, hub)
    overrides = [
        f"data.root={tmp_path / 'cifar'}",
        "finetune.epochs=2",
        "device=cpu",
        "progress=false",
        "tensorboard=false",
        f"output_dir={tmp_path / 'runs'}",
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["run", str(CONFIG), *overrides]) == 0, capsys.readouterr().err
    finally:
        torch.set_num_threads(threads)
    run = next((tmp_path / "runs").glob("lcc_cifar100_resnet18-*"))
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [(r["run"], r["epoch"]) for r in rows] == [
        ("baseline", "0"), ("baseline", "1"), ("lcc", "0"), ("lcc", "1")
    ]  # fmt: skip
    corrected = [r for r in rows if r["avgpool/n_clusters"]]  # warmup 1: the second epoch
    assert [(r["run"], r["epoch"]) for r in corrected] == [("baseline", "1"), ("lcc", "1")]
    assert float(corrected[1]["lcc_loss"]) > 0 == float(corrected[0]["lcc_loss"])
    from safetensors.torch import load_file

    tuned = load_file(run / "model.safetensors")
    assert tuned["fc.weight"].shape == (100, 512)  # the ImageNet head replaced for CIFAR-100
    # fine-tuned from the hub file, not from a fresh initialisation
    start, end = published["layer3.0.conv1.weight"], tuned["layer3.0.conv1.weight"]
    assert torch.nn.functional.cosine_similarity(start.flatten(), end.flatten(), dim=0) > 0.9
