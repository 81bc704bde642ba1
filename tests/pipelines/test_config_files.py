"""A config file that is not what it should be gets one line saying what it is and where.

Each case runs ``lcc run FILE`` and expects exit code 2 and one line on stderr, with no
traceback; the duplicate-key cases would run with the last value silently without the check.
"""

from __future__ import annotations

import pytest

from lcc.cli import main
from lcc.config import ConfigError, read_yaml

DUPLICATE_SECTION = """\
pipeline: lcc_finetune
finetune:
  lr: 0.05
lcc:
  k: 5
finetune:
  epochs: 3
"""

CASES = {
    "duplicate-section": (
        DUPLICATE_SECTION,
        ":6:1: key 'finetune' given twice in one mapping (first at line 2); keep one",
    ),
    "duplicate-key": (
        "pipeline: lcc_finetune\nlcc:\n  k: 5\n  weight: 0.1\n  k: 50\n",
        ":5:3: key 'k' given twice in one mapping (first at line 3)",
    ),
    "duplicate-in-flow-mapping": (
        "pipeline: lcc_finetune\nlcc: {k: 5, k: 6}\n",
        ":2:13: key 'k' given twice",
    ),
    "syntax-error": (
        "pipeline: lcc_finetune\nlcc:\n  k: 5\n   weight: 2\n",
        ":4:10: not valid YAML: mapping values are not allowed here",
    ),
    "unclosed-list": ("lcc:\n  layers: [fc1\n", ":3:1: not valid YAML: while parsing a flow"),
    "tab": ("lcc:\n\tk: 5\n", ":2:1: not valid YAML: while scanning for the next token"),
    "empty": ("", "is empty; a config is a YAML mapping (`lcc list` shows the shipped configs)"),
    "only-comments": ("# nothing yet\n\n", "holds only comments; a config is a YAML mapping"),
}


@pytest.mark.parametrize(("text", "message"), CASES.values(), ids=CASES)
def test_a_bad_config_file_is_one_located_line(tmp_path, capsys, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert str(path) in err


def test_a_folder_is_named_as_a_folder(tmp_path, capsys):
    assert main(["run", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"config file {str(tmp_path)!r} is a folder" in err
    assert f"lcc list --configs {tmp_path}" in err


def test_repeated_keys_in_different_mappings_are_fine(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("pretrain:\n  epochs: 1\nfinetune:\n  epochs: 2\n")
    assert read_yaml(path) == {"pretrain": {"epochs": 1}, "finetune": {"epochs": 2}}


def test_anchors_and_merge_keys_still_load(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("base: &b\n  epochs: 1\nfinetune:\n  <<: *b\n  lr: 0.1\n")
    assert read_yaml(path)["finetune"] == {"epochs": 1, "lr": 0.1}


def test_only_safe_tags_load(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(path)
