"""The `inconddiff` console script lists its subcommands and runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inconddiff.cli import COMMAND_MODULES, main

SCRIPT = Path(sys.executable).parent / "inconddiff"


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed in this environment")
def test_help_lists_every_subcommand():
    out = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("synth", *COMMAND_MODULES):
        assert name.split("_")[0] in out, f"subcommand {name} missing from --help:\n{out}"


def test_synth_subcommand_writes_a_capture(tmp_path):
    assert main(["synth", str(tmp_path / "cap"), "--views", "3", "--size", "40x32", "--seed", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "cap" / "images").iterdir()) == [
        "view_000.png",
        "view_001.png",
        "view_002.png",
    ]


def test_synth_refuses_an_existing_folder(tmp_path, caplog):
    (tmp_path / "cap").mkdir()
    assert main(["synth", str(tmp_path / "cap"), "--views", "3", "--size", "40x32"]) == 1
    assert "already exists" in caplog.text


def test_bad_size_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["synth", str(tmp_path / "cap"), "--size", "big"])
    assert "size must look like 160x120" in capsys.readouterr().err
