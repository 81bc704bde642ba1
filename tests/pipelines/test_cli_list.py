"""``lcc list``: every pipeline and every shipped config, each with its description."""

from __future__ import annotations

from pathlib import Path

from lcc.cli import PIPELINES, main

CONFIGS = Path(__file__).resolve().parents[2] / "pipelines" / "configs"


def test_list_names_every_pipeline_and_config_with_its_description(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in PIPELINES:
        row = next(line for line in lines if line.split()[:1] == [name])
        assert len(row.split()) > 3  # a description follows the name
    for path in CONFIGS.glob("*.yaml"):
        row = next(line for line in lines if line.split()[:1] == [path.name])
        first_comment = next(li for li in path.read_text().splitlines() if li.startswith("#"))
        assert first_comment[1:].strip().rstrip(":") in row


def test_list_of_another_folder_and_a_missing_one(tmp_path, capsys):
    (tmp_path / "mine.yaml").write_text("# My own run.\npipeline: ssc\nname: mine\n")
    assert main(["list", "--configs", str(tmp_path)]) == 0
    assert any(
        line.split()[:3] == ["mine.yaml", "ssc", "My"]
        for line in capsys.readouterr().out.splitlines()
    )
    assert main(["list", "--configs", str(tmp_path / "nope")]) == 2
    assert "lcc: error: --configs: folder" in capsys.readouterr().err


def test_list_names_the_files_it_could_not_read(tmp_path, capsys):
    (tmp_path / "good.yaml").write_text("# Mine.\npipeline: ssc\n")
    (tmp_path / "broken.yaml").write_text("a: [\n")
    (tmp_path / "twice.yaml").write_text("a: 1\na: 2\n")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    assert main(["list", "--configs", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["good.yaml", "ssc"] for line in out.splitlines())
    last = out.strip().splitlines()[-1]
    assert last.startswith("could not read 3: binary.yaml (UnicodeDecodeError); broken.yaml")
    assert "twice.yaml (key 'a' given twice in one mapping" in last
