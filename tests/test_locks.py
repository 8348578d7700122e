"""File locks: a busy run folder is refused with the holder named, shared artifacts are waited for, and a
dead holder never leaves its lock behind. "Another process" is a second open file with a real flock()."""
import fcntl
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from cli import app
from conftest import write_ml1m
from ur4rec.locks import LOCK_NAME, Busy, exclusive

runner = CliRunner()


def hold(path, who: bytes = b"pid 4242 on elsewhere since earlier") -> int:
    """Lock ``path`` through its own open file, as another process would; returns the fd (close it to release)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, who)
    return fd


def test_a_busy_lock_is_refused_with_the_holder_named(tmp_path):
    fd = hold(tmp_path / "x.lock")
    with pytest.raises(Busy, match=r"the run folder runs/a is in use by another process \(pid 4242 on elsewhere"):
        with exclusive(tmp_path / "x.lock", "the run folder runs/a"):
            pass
    os.close(fd)
    with exclusive(tmp_path / "x.lock", "the run folder runs/a"):  # free again once the holder's file is closed
        assert (tmp_path / "x.lock").read_text().startswith(f"pid {os.getpid()} ")


def test_waiting_blocks_until_the_holder_lets_go_and_says_whom_it_waits_for(tmp_path):
    fd = hold(tmp_path / "x.lock")
    released = []

    def let_go():
        time.sleep(0.3)
        released.append(time.monotonic())
        os.close(fd)

    threading.Thread(target=let_go).start()
    said = []
    with exclusive(tmp_path / "x.lock", "the Base checkpoint base-k", wait=True, log=said.append):
        acquired = time.monotonic()
    assert released and acquired >= released[0]
    assert said == ["waiting for the Base checkpoint base-k: another process holds it (pid 4242 on elsewhere since earlier)"]


def test_the_lock_is_reentrant_within_one_process(tmp_path):
    with exclusive(tmp_path / "x.lock", "a"):
        with exclusive(tmp_path / "x.lock", "a", wait=True):  # would block forever if it were not
            pass
        other = os.open(tmp_path / "x.lock", os.O_RDWR)
        with pytest.raises(BlockingIOError):  # still held by the outer block after the inner one ended
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(other)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    code = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "x.lock")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(Busy):
        with exclusive(tmp_path / "x.lock", "a"):
            pass
    proc.kill()
    proc.wait()
    with exclusive(tmp_path / "x.lock", "a"):
        pass


def test_a_second_run_in_a_busy_run_folder_is_refused_and_writes_nothing(tmp_path, monkeypatch):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=120, per_user=15)
    monkeypatch.chdir(tmp_path)
    exp = tmp_path / "exp.gin"
    exp.write_text("include 'datasets/ml-1m.gin'\nexperiment.rankers = [@rankers.Random(), @rankers.Popularity()]\n")
    args = ["run", str(exp), "-b", f"DATA_DIR='{folder}'", "-b", "K_CORE=2", "-b", "N_CANDIDATES=20"]
    assert runner.invoke(app, args).exit_code == 0
    (run_dir,) = (tmp_path / "runs").glob("exp+*/ml-1m/seed0")
    before = (run_dir / "metrics.json").read_text()
    (run_dir / "metrics.json").write_text(json.dumps({"marker": 1}))
    fd = hold(run_dir / LOCK_NAME)
    result = runner.invoke(app, args)
    os.close(fd)
    assert result.exit_code == 2 and "Traceback" not in result.output
    flat = " ".join(result.output.split())
    assert f"the run folder {run_dir.relative_to(tmp_path)} is in use by another process (pid 4242 on elsewhere" in flat
    assert json.loads((run_dir / "metrics.json").read_text()) == {"marker": 1}  # the holder's files are left alone
    assert runner.invoke(app, args).exit_code == 0  # and once it is free, the same command runs
    assert json.loads((run_dir / "metrics.json").read_text()).keys() == json.loads(before).keys()
