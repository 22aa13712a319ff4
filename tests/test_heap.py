"""Each Escalade process exempts its start-up heap from garbage collection
(escalade/heap.py): a full collection of it stalled a process for ~100 ms."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from escalade import heap
from support.policies import BASE, ENV


def test_settle_freezes_what_outlives_start_up() -> None:
    gc.collect()
    tracked = len(gc.get_objects())
    try:
        heap.settle()
        assert gc.get_freeze_count() > tracked * 0.9
        assert len(gc.get_objects(generation=2)) < tracked // 10  # collections skip the rest
    finally:
        gc.unfreeze()  # the test process goes on collecting as before


# Stands in for the server loop and the worker loop: reports what is frozen
# when the process would start serving, then returns.
PROBE = """
import gc, sys, uvicorn
from escalade.engine.worker import Worker
from escalade.cli import main
uvicorn.run = lambda *a, **k: print("frozen", gc.get_freeze_count())
Worker.run_for = lambda *a, **k: print("frozen", gc.get_freeze_count())
main([sys.argv[1]], standalone_mode=False)
"""
FACTORY = """
import gc
from escalade.app import create_app_from_env
create_app_from_env()
print("frozen", gc.get_freeze_count())
"""


def frozen(tmp_path: Path, *args: str) -> int:
    policy = tmp_path / "policy.yaml"
    policy.write_text(BASE)
    env = {
        **os.environ,
        **ENV,
        "ESCALADE_DATABASE_URL": f"sqlite:///{tmp_path}/escalade.db",
        "ESCALADE_POLICY": str(policy),
    }
    done = subprocess.run(
        [sys.executable, "-c", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [count] = [
        int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("frozen")
    ]
    return count


def test_serve_worker_and_each_api_process_settle_before_they_start(tmp_path: Path) -> None:
    assert frozen(tmp_path, PROBE, "serve") > 50_000
    assert frozen(tmp_path, PROBE, "worker") > 50_000
    assert frozen(tmp_path, FACTORY) > 50_000  # `serve --workers N`: each process's app
