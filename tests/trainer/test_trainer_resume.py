"""Kill a run mid-training, resume it, and get the same metrics as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

STEPS = 4


def _cmd(tiny_overrides, run: Path, *extra: str) -> list[str]:
    sets = [a for o in tiny_overrides(str(run), steps=STEPS) for a in ("--set", o)]
    return [sys.executable, "-m", "prime_fast", "--log-level", "WARNING", "train", *sets, *extra]


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith(("time/", "perf/"))} for r in rows]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def test_killed_run_resumes_with_identical_metrics(tmp_path, tiny_overrides) -> None:
    full = tmp_path / "full"
    subprocess.run(_cmd(tiny_overrides, full), check=True, env=_env(), timeout=300, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _cmd(tiny_overrides, killed), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    latest = killed / "checkpoints" / "latest"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if latest.exists() and latest.read_text().strip() == "step_2":
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = [json.loads(x)["step"] for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert max(done) < STEPS, "the kill came too late to test anything"

    out = subprocess.run(
        [*_cmd(tiny_overrides, killed)[:5], "train", "--resume", str(killed)],
        check=True,
        env=_env(),
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert "final greedy accuracy" in out.stdout
    assert _metrics(killed) == _metrics(full)
