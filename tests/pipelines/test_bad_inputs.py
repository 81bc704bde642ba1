"""Bad inputs a user can give, each with the one-line error it gets (README: "Bad inputs").

Every row of the README's table is one case here; ``test_the_readme_lists_every_case``
keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import lcc
from lcc.cli import main
from lcc.training import LCCCallback

DEMO = "pipelines/configs/lcc_demo.yaml"
BRB = "pipelines/configs/idec_brb_scratch_digits.yaml"
SSC = "pipelines/configs/ssc_mnist_subset.yaml"
README = Path(__file__).resolve().parents[2] / "README.md"

# (command-line arguments after ``lcc run``, the message on stderr); exit code 2, no traceback
CLI = [
    ([DEMO, "finetune.epochs=two"], "finetune.epochs: expected an integer >= 0, got 'two'"),
    ([DEMO, "finetune.epochs=-1"], "finetune.epochs: expected an integer >= 0, got -1"),
    ([DEMO, "lcc.weight=-0.1"], "lcc.weight must be a non-negative finite number, got -0.1"),
    ([DEMO, "lcc.k=0"], "lcc.k must be at least 1, got 0"),
    (
        [DEMO, "lcc.method=foo"],
        "lcc.method='foo' is not supported; choose one of ('leiden', 'louvain', 'peer_pressure')",
    ),
    (
        [DEMO, "lcc.mode=fast"],
        "lcc.mode='fast' is not supported; choose one of ('exact', 'approximate', 'orthogonal')",
    ),
    ([DEMO, "lcc.layers=[fc9]"], "lcc.layers: ['fc9'] are not layers of small_cnn"),
    ([DEMO, "lcc.layers=fc1"], "lcc.layers: expected a list, got 'fc1'"),
    (
        [DEMO, "model.name=resnet99"],
        "model.name: unknown model 'resnet99'; a model name is 'small_cnn', 'torchvision/<arch>'",
    ),
    (
        [DEMO, "model.name=timm/resnet99"],
        "model.name: unknown timm model 'resnet99' (did you mean",
    ),
    (
        [DEMO, "model.name=resnet18"],
        "model.name: torchvision/resnet18 takes 3-channel (RGB) images and the data have 1 "
        "channel(s)",
    ),
    (
        [DEMO, "model.weights=/no/such/weights.safetensors"],
        "model.weights: weights file '/no/such/weights.safetensors' not found; "
        "looked in: /no/such/weights.safetensors",
    ),
    (
        [DEMO, "model.name=resnet18", "model.weights=IMAGENET1K_V9"],
        "model.weights: torchvision/resnet18 has no weights named 'IMAGENET1K_V9'",
    ),
    ([DEMO, "data.name=cifar11"], "data.name: expected one of 'digits', 'mnist_subset'"),
    ([DEMO, "data.name=cifar10"], "data.root: cifar10 is read from a local folder; set data.root"),
    (
        [DEMO, "data.name=cifar10", "data.root=/no/such/folder"],
        "data.root: folder '/no/such/folder' does not exist",
    ),
    (
        [DEMO, "finetune.epochz=2"],
        "finetune.epochz: unknown key; known keys here: ['batch_size', 'epochs', 'lr']",
    ),
    ([DEMO, "finetune=3"], "finetune: expected a mapping, got 3"),
    ([DEMO, "device=gpu"], "device: expected auto, cpu, cuda or cuda:<index>, got 'gpu'"),
    (
        [DEMO, "lcc.scheduler=nowhere"],
        "lcc.scheduler: scheduler='nowhere' is neither 'auto', 'local', 'local-cuda' "
        "nor an address",
    ),
    ([DEMO, "finetune.epochs"], "override 'finetune.epochs' is not of the form key=value"),
    (["no/such/config.yaml"], "config file 'no/such/config.yaml' does not exist"),
    (
        ["pipelines/configs/cdc_digits.yaml", "--scheduler", "local"],
        "--scheduler applies to the lcc_finetune pipeline, not 'representation'",
    ),
    (
        ["pipelines/configs/snnl5_mnist_subset.yaml", "model.epochz=2"],
        "model.epochz: unknown SNNLAutoencoder argument",
    ),
    (
        ["pipelines/configs/snnl5_mnist_subset.yaml", "model.epochs=-1"],
        "model.epochs must be at least 0, got -1",
    ),
    (
        ["pipelines/configs/ssc_mnist_subset.yaml", "models=[spectral]"],
        "models[0]: expected one of 'kmeans', 'dae_kmeans', 'lsc', 'dae_lsc', 'ssc' or "
        "'ssc_rm', got 'spectral'",
    ),
    (
        ["pipelines/configs/dec_scratch_digits.yaml", "algorithms=[KMEANS]"],
        "algorithms[0]: expected one of 'DEC', 'IDEC' or 'DCN', got 'KMEANS'",
    ),
    (
        ["pipelines/configs/dec_scratch_digits.yaml", "brb_options.alpha=2"],
        "brb_options.alpha: expected a number >= 0 and <= 1, got 2",
    ),
    (
        ["--resume", "/no/such/run"],
        "--resume: '/no/such/run/config.yaml' does not exist (not a run directory?)",
    ),
    ([DEMO, "finetune.epochs=0"], "finetune.epochs: 0 epochs leave nothing to compare"),
    ([DEMO, "finetune.lr=.inf"], "finetune.lr: expected a finite number > 0, got inf"),
    (
        [DEMO, "lcc.layers=[fc1, fc1]"],
        "lcc.layers: ['fc1'] given more than once; list each layer once",
    ),
    (
        [DEMO, "finetune.epochs=3", "lcc.warmup=3"],
        "lcc.warmup=3 leaves no LCC epoch in finetune.epochs=3",
    ),
    (
        [DEMO, "lcc.k=5000"],
        "lcc.k=5000 must be smaller than the 1,437 training samples of digits",
    ),
    (
        ["pipelines/configs/dec_scratch_digits.yaml", "clustering_epochs=0"],
        "clustering_epochs: expected an integer >= 1, got 0",
    ),
    (
        [BRB, "clustering_epochs=20"],
        "brb_options.interval=20 never resets in clustering_epochs=20",
    ),
    (
        [BRB, "brb_options.subsample=5"],
        "brb_options.subsample=5: BRB's k-Means would recluster 5 samples into the 10 "
        "clusters of digits; give >= 10",
    ),
    (
        [SSC, "n_landmarks=6000"],
        "n_landmarks=6000 exceeds the number of samples (5000)",
    ),
    (
        [SSC, "r=400"],
        "r=400 nearest landmarks requested but there are only n_landmarks=350",
    ),
    (
        [SSC, "n_landmarks=8"],
        "n_clusters=10 must be smaller than min(n_samples, n_landmarks · members) = 8",
    ),
    (
        ["pipelines/configs/snnl5_mnist_subset.yaml", "n_labelled=5000"],
        "n_labelled=5000 leaves none of the 5,000 samples of mnist_subset to cluster",
    ),
]


@pytest.mark.parametrize(("args", "message"), CLI, ids=[" ".join(a[1:] or a) for a, _ in CLI])
def test_a_bad_command_line_is_one_line_and_exit_code_2(args, message, capsys):
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lcc: error: ") and message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", "must hold a YAML mapping, got list"),
        ("a: [unclosed\n", "not valid YAML"),
        (
            "pipeline: nope\n",
            "pipeline: expected one of ['deep_clustering', 'evaluate', 'lcc_finetune', "
            "'representation', 'ssc'], got 'nope'",
        ),
    ],
    ids=["not-a-mapping", "not-yaml", "unknown-pipeline"],
)
def test_a_bad_config_file(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["run", str(path)]) == 2
    assert message in capsys.readouterr().err


SMALL = ["pretrain.epochs=1", "finetune.epochs=2", "progress=false", "device=cpu"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    assert main(["run", DEMO, *SMALL, f"output_dir={output}"]) == 0
    return next(output.glob("lcc_demo-*"))


def test_resume_with_another_config_is_refused(finished_run, capsys):
    assert main(["run", DEMO, *SMALL, "finetune.epochs=3", "--resume", str(finished_run)]) == 2
    err = capsys.readouterr().err
    assert "differs from" in err and "'finetune.epochs'" in err
    assert "overrides cannot change it: start a new run to change finetune.epochs" in err


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:100], "is damaged or not an lcc checkpoint (SafetensorError"),
        (lambda b: b[:-3] + bytes([b[-3] ^ 0xFF]) + b[-2:], "SHA-256 differs from the one written"),
    ],
    ids=["truncated", "tampered"],
)
def test_a_damaged_checkpoint_is_named(finished_run, tmp_path, capsys, damage, message):
    import shutil

    run = tmp_path / finished_run.name
    shutil.copytree(finished_run, run)
    (run / "complete.json").unlink()
    checkpoint = next((run / "checkpoints").glob("*.safetensors"))
    checkpoint.write_bytes(damage(checkpoint.read_bytes()))
    assert main(["run", "--resume", str(run)]) == 1
    err = capsys.readouterr().err
    assert message in err and str(checkpoint) in err


def test_checkpoints_of_another_config_are_refused(finished_run, tmp_path, capsys):
    import shutil

    import yaml

    run = tmp_path / finished_run.name
    shutil.copytree(finished_run, run)
    (run / "complete.json").unlink()
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["lcc"]["weight"] = 0.5  # edited by hand after the checkpoints were written
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", "--resume", str(run)]) == 1
    assert "belong to another config" in capsys.readouterr().err


def test_a_diverged_run_stops_with_the_epoch(tmp_path, capsys):
    args = [DEMO, *SMALL, "pretrain.epochs=0", "finetune.lr=1e12", f"output_dir={tmp_path}"]
    assert main(["run", *args]) == 1
    err = capsys.readouterr().err
    assert "lcc: error: epoch 0: the loss became" in err and "the run diverged" in err


def test_nan_latents_name_the_layer_and_the_epoch():
    from torch.utils.data import TensorDataset

    from lcc.training import LCCCallback

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 3))
    with torch.no_grad():
        model[0].bias[2] = float("nan")
    data = TensorDataset(torch.randn(40, 4), torch.arange(40) % 3)
    callback = LCCCallback(model, ["0"], data, warmup=0)
    with pytest.raises(FloatingPointError, match="epoch 0: the latents of layer '0' contain NaN"):
        callback.on_epoch_start(0)


def test_an_interrupted_latent_store_is_never_read_as_complete(tmp_path):
    from lcc.staging import LatentStore

    store = LatentStore(tmp_path / "z.zarr", 10, 3)
    store.write(torch.arange(6), torch.ones(6, 3))  # the capture dies here
    with pytest.raises(ValueError, match="is incomplete: its capture pass was interrupted"):
        LatentStore.open(tmp_path / "z.zarr")
    store.write(torch.arange(6, 10), torch.ones(4, 3))
    store.finish()
    assert LatentStore.open(tmp_path / "z.zarr").to_dask().shape == (10, 3)
    LatentStore(tmp_path / "z.zarr", 10, 3)  # a new capture into the same place
    with pytest.raises(ValueError, match="is incomplete"):
        LatentStore.open(tmp_path / "z.zarr")


def test_a_missing_data_folder_is_named():
    from lcc.data import load_dataset

    with pytest.raises(FileNotFoundError, match="mnist was not found under '/no/such/folder'"):
        load_dataset("mnist", root="/no/such/folder")


Z = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
Y = np.arange(50) % 3
SEQ = torch.nn.Sequential(torch.nn.Linear(4, 2))
ENGINE = [
    (
        lambda: lcc.correct(np.where(np.arange(200).reshape(50, 4) == 13, np.nan, Z), Y),
        "z contains NaN or infinite values in 1 row(s)",
    ),
    (lambda: lcc.correct(Z, Y[:40]), "y has 40 entries but z has 50 samples"),
    (lambda: lcc.correct(Z, Y, mode="fast"), "mode='fast' is not supported"),
    (lambda: lcc.knn(Z, k=0), "k must be at least 1, got 0"),
    (lambda: lcc.knn(Z, k=50), "k=50 must be smaller than the number of samples (50)"),
    (
        lambda: lcc.knn_graph(Z.astype(np.complex64), k=3),
        "z must hold real numbers, got dtype complex64",
    ),
    (lambda: lcc.kmeans(Z, 0), "n_clusters must be at least 1, got 0"),
    (lambda: lcc.deep.DEC(0).fit(Z), "n_clusters must be at least 1, got 0"),
    (
        lambda: lcc.deep.CDC(callbacks=[object()]).fit(Z),
        "has no on_epoch_end(epoch, estimator) method",
    ),
    (  # at fit start, not at the first reset
        lambda: lcc.deep.DEC(10, callbacks=[lcc.deep.BRBCallback(subsample=5)]).fit(Z),
        "subsample=5: the reclustering's k-Means would see 5 samples for n_clusters=10",
    ),
    (  # at fit start, not at the consensus after the last snapshot
        lambda: lcc.deep.SnapshotSpectralClustering(3, n_landmarks=100).fit(Z),
        "n_landmarks=100 exceeds the number of samples (50)",
    ),
    (  # a string is not read as its characters
        lambda: LCCCallback(torch.nn.Linear(4, 2), "fc1", TensorDataset(torch.zeros(50, 4))),
        "layers must be a list of layer names, got 'fc1'",
    ),
    (  # a repeated layer would get its loss twice
        lambda: LCCCallback(SEQ, ["0", "0"], TensorDataset(torch.zeros(50, 4))),
        "given more than once; list each layer once",
    ),
    (  # at construction, not at the first correction epoch
        lambda: LCCCallback(torch.nn.Linear(4, 2), ["0"], TensorDataset(torch.zeros(50, 4)), k=50),
        "k=50 must be smaller than the number of samples (50)",
    ),
]


@pytest.mark.parametrize(("call", "message"), ENGINE, ids=[m[:40] for _, m in ENGINE])
def test_a_bad_engine_or_estimator_argument_is_named(call, message):
    with pytest.raises((ValueError, TypeError), match=__import__("re").escape(message)):
        call()


# rows of the table whose tests live in other files (each asserts its message there)
ELSEWHERE = [
    "device: 'cuda' was requested but this process sees 0 CUDA device(s)",  # environment
    ":6:1: key 'finetune' given twice in one mapping (first at line 2); keep one",  # files
    ":4:10: not valid YAML: mapping values are not allowed here",  # config_files
    "is empty; a config is a YAML mapping (`lcc list` shows the shipped configs)",
    "is a folder; give one YAML file in it",
    "wait for that run to end (or stop it), then resume",  # run_lock
    "is in the way: a file where a folder is needed (is output_dir a file?)",  # environment
    "(Permission denied); choose a writable output_dir",
    "no space left on the disk while writing",
    "go on with `lcc run --resume",
    "which never finished: a worker may be hung",  # tests/sharded/test_step_timeout.py
    "CDC lacks ['encoder', 'embedding_layer'",  # tests/deep/test_fit_start_checks.py
    "would see 3 samples for n_clusters=4",
]


def test_the_readme_lists_every_case():
    text = README.read_text()
    table = text[text.index("### Bad inputs") :]
    messages = [m for _, m in CLI] + [m for _, m in ENGINE] + ELSEWHERE
    missing = [m for m in messages if m.replace("|", "\\|") not in table]
    assert not missing
    assert table.count("\n| ") >= 21  # header + at least 20 rows


def test_print_config_shows_the_resolved_config_and_runs_nothing(tmp_path, capsys):
    import yaml

    args = [DEMO, "finetune.epochs=2", f"output_dir={tmp_path}", "--print-config"]
    assert main(["run", *args]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["finetune"] == {"epochs": 2, "lr": 0.01, "batch_size": 64}
    assert printed["lcc"]["k"] == 5 and printed["checkpoint"] == {"enabled": True, "keep": 1}
    assert not any(tmp_path.iterdir())  # no run directory was made
