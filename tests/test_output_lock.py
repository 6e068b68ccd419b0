"""One run per output folder: a second run into the same OUT stops at once, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inconddiff.capture import CaptureError
from inconddiff.removal.config import RemovalConfig
from inconddiff.removal.driver import remove_object
from inconddiff.removal.output import run_lock

FAST = RemovalConfig(method="telea", refs=0)

HOLDER = """
import sys
from pathlib import Path
from inconddiff.removal.output import run_lock
with run_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def hold_lock(out: Path) -> subprocess.Popen:
    """Another process holding OUT's lock until its standard input gets a line (or it is killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_stops_naming_the_folder_then_runs_after_release(capture, tmp_path):
    out = tmp_path / "out"
    holder = hold_lock(out)
    try:
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(CaptureError) as err:
            remove_object(capture, out, config=FAST)
        message = str(err.value)
        assert f"another run is writing to {tmp_path / 'out.partial'}" in message
        assert f"(pid {holder.pid})" in message
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created
    finally:
        holder.communicate("\n", timeout=30)
    assert not (tmp_path / "out.lock").exists()
    assert remove_object(capture, out, config=FAST) == out
    assert (out / "log.json").is_file()
    assert not (tmp_path / "out.lock").exists() and not (tmp_path / "out.partial").exists()


def test_the_lock_also_holds_within_one_process(capture, tmp_path):
    with run_lock(tmp_path / "out"):
        with pytest.raises(CaptureError, match=f"pid {os.getpid()}"):
            remove_object(capture, tmp_path / "out", config=FAST)
    assert remove_object(capture, tmp_path / "out", config=FAST).is_dir()


def test_a_killed_run_does_not_block_the_next(capture, tmp_path):
    holder = hold_lock(tmp_path / "out")
    holder.kill()
    holder.communicate(timeout=30)
    assert (tmp_path / "out.lock").exists()  # left behind, but no longer locked
    assert remove_object(capture, tmp_path / "out", config=FAST).is_dir()
    assert not (tmp_path / "out.lock").exists()


class Broken:
    """A filler that fails on its first view."""

    name = "telea"

    def __call__(self, request):
        raise RuntimeError("filler failed")


def test_a_failed_run_releases_the_lock(capture, tmp_path):
    with pytest.raises(RuntimeError, match="filler failed"):
        remove_object(capture, tmp_path / "out", config=FAST, filler=Broken())
    assert not (tmp_path / "out.lock").exists()
    assert remove_object(capture, tmp_path / "out", config=FAST).is_dir()  # resumes the partial run
