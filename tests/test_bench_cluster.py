"""`mafac bench` where users take it: a multi-node Ray cluster without a shared filesystem, two
benches on one name, a plugin whose name ends in a built-in's. Real processes and a real local
Ray cluster throughout; the runs are matrix games so that each bench takes seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from plugin_dist import write_distribution

pytestmark = [pytest.mark.slow, pytest.mark.cluster]  # a real local Ray cluster: minutes

MAFAC = [sys.executable, "-m", "mafac"]
GRID = ["--env", "matrix", "--preset", "matrix", "--maps", "climbing", "--seeds", "1", "--set", "run.test_interval=250",
        "--no-probe"]  # the wall-time estimate's probe is test_throughput.py's subject


def bench(root: Path, name: str, algos: str, steps: int, *extra: str) -> list:
    return MAFAC + ["bench", "--algos", algos, "--steps", str(steps), "--out-root", str(root), "--name", name,
                    *GRID, *extra]


def metrics(bench_dir: Path) -> dict:
    """Every run's metrics without the wall clock (the one column two identical runs differ in)."""
    return {p.parent.name: pd.read_csv(p).drop(columns=["wall_s"])
            for p in sorted((bench_dir / "runs").glob("*/metrics.csv"))}


def run_json(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_ray_executor_gives_the_same_layout(tmp_path):
    """A local Ray (no cluster yet: this test comes first in the file, which one xdist worker runs
    in order under --dist loadfile) gives a local bench's layout."""
    pytest.importorskip("ray", reason="ray is the optional extra mafac[ray]")
    cmd = MAFAC + ["bench", "--algos", "vdn,qmix", "--maps", "qtran_game", "--env", "matrix", "--preset", "matrix",
                   "--seeds", "1", "--steps", "200", "--workers", "2", "--executor", "ray", "--out-root", str(tmp_path),
                   "--name", "r", "--set", "run.test_interval=100", "--no-probe"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "RAY_ADDRESS": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    root = tmp_path / "r"
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["qmix__qtran_game__s0", "vdn__qtran_game__s0"]
    assert all(json.loads(p.read_text())["status"] == "done" for p in root.glob("runs/*/run.json"))
    assert (root / "summary.json").exists() and (root / "manifest.json").exists()


# -- 1. a Ray cluster without a shared filesystem --------------------------------------------------
def test_ray_cluster_without_shared_paths_completes_and_survives_a_lost_node(tmp_path):
    """Head (no CPUs: it only hosts the driver) and two 1-CPU worker nodes, each with its own
    scratch root. The task never sees the driver's results path; a node is removed mid-run and the
    run resumes on the other from the last checkpoint that reached the driver. The driver's
    results must equal a local bench of the same grid, number for number."""
    ray_cluster_utils = pytest.importorskip("ray.cluster_utils")
    steps = 4000
    ref = subprocess.run(bench(tmp_path / "local", "g", "vdn", steps, "--workers", "1"),
                         capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]

    scratch = {k: tmp_path / f"scratch_{k}" for k in ("a", "b")}
    cluster = ray_cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = {k: cluster.add_node(num_cpus=1, env_vars={"MAFAC_SCRATCH": str(d)}) for k, d in scratch.items()}
    try:
        cluster.wait_for_nodes()
        start = time.time()
        proc = subprocess.Popen(bench(tmp_path / "driver", "g", "vdn", steps, "--executor", "ray",
                                      "--address", cluster.address),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        run_dir = tmp_path / "driver" / "g" / "runs" / "vdn__climbing__s0"
        # the first checkpoint has reached the driver: now take the node that is running the task away
        wait_for(lambda: 0 < run_json(run_dir).get("env_steps", 0) < steps // 2, 300, "a shipped checkpoint")
        busy = [k for k, d in scratch.items() if any(d.rglob("checkpoint.pt"))]
        assert len(busy) == 1, busy
        cluster.remove_node(nodes[busy[0]], allow_graceful=False)
        out, err = proc.communicate(timeout=600)
        wall = time.time() - start
    finally:
        if proc.poll() is None:
            proc.kill()
        cluster.shutdown()
    assert proc.returncode == 0, err[-3000:]
    assert "ray task lost" in err and "retrying from its last checkpoint" in err, err[-3000:]
    other = next(k for k in scratch if k != busy[0])
    assert scratch[other].exists(), "the retry did not run on the surviving node"
    assert run_json(run_dir)["status"] == "done"
    summary = json.loads((tmp_path / "driver" / "g" / "summary.json").read_text())["runs"]
    assert summary["vdn__climbing__s0"]["status"] == "done"
    local, remote = metrics(tmp_path / "local" / "g"), metrics(tmp_path / "driver" / "g")
    assert local.keys() == remote.keys() == {"vdn__climbing__s0"}
    pd.testing.assert_frame_equal(local["vdn__climbing__s0"], remote["vdn__climbing__s0"])
    # the driver's copy is a complete, resumable run dir: checkpoint and the replay shards it lists
    ckpt_names = {p.name for p in run_dir.iterdir()}
    assert {"checkpoint.pt", "config.yaml", "metrics.csv", "run.json", "replay"} <= ckpt_names
    from mafac.checkpoint import verify_run_dir

    verify_run_dir(run_dir)
    print(f"cluster bench with one lost node: {wall:.0f} s")


# -- 2. two benches on one name ---------------------------------------------------------------------
def _children(pid: int) -> list:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_second_bench_on_the_same_name_is_refused_until_the_first_is_gone(tmp_path):
    first = subprocess.Popen(bench(tmp_path, "same", "vdn,qmix", 100_000, "--workers", "2"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    lock = tmp_path / "same" / ".bench.lock"
    runs = tmp_path / "same" / "runs"
    try:
        wait_for(lambda: lock.exists() and lock.read_text().strip(), 120, "the first bench's lock")
        wait_for(lambda: len(_children(first.pid)) >= 2 and any(runs.glob("*/run.json")), 300, "its workers")
        before = {p: p.read_bytes() for p in (tmp_path / "same").glob("*.json")}
        second = subprocess.run(bench(tmp_path, "same", "vdn,qmix", 100_000), capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
        assert "in use by another mafac bench" in lines[0] and f"pid {first.pid} " in lines[0], lines[0]
        assert {p: p.read_bytes() for p in before} == before  # manifest untouched
        # kill -9 the bench alone: its workers notice and stop, and the lock is free again
        workers = _children(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        wait_for(lambda: not any(_alive(w) for w in workers), 60, "the orphaned workers to stop")
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    statuses = {json.loads(p.read_text())["status"] for p in runs.glob("*/run.json")}
    assert statuses == {"running"}, statuses  # stopped as interrupted, not failed: they resume
    # the stale lock does not block: a short bench under the same name (forced: another budget) runs
    third = subprocess.run(bench(tmp_path, "same", "vdn", 500, "--force", "--workers", "1"),
                           capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr[-2000:]


# -- 3. one identity per job ------------------------------------------------------------------------
def test_jobs_are_keyed_by_name_not_by_suffix(tmp_path):
    """`vdn__climbing__s0` is a suffix of `wvdn__climbing__s0`: each result must still reach its own
    job, and the plugin must be resolved by the driver exactly as the manifest records it."""
    site = tmp_path / "site"
    write_distribution(site, "mafac-wvdn-test", "0.1", {"mafac.mixers": {"wvdn": "mafac_wvdn_test:WVDN"}}, {
        "mafac_wvdn_test.py": textwrap.dedent("""\
            from mafac.mixers import Mixer

            class WVDN(Mixer):
                description = "VDN under another name"

                def forward(self, inp):
                    return 2.0 * inp.agent_qs.sum(-1, keepdim=True)
            """)})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(bench(tmp_path, "ids", "vdn,wvdn", 500, "--workers", "2"), capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    done = [l.strip() for l in out.stderr.splitlines() if ": done (" in l]
    assert sorted(l.split(":")[0].split()[-1] for l in done) == ["vdn__climbing__s0", "wvdn__climbing__s0"], done
    summary = json.loads((tmp_path / "ids" / "summary.json").read_text())["runs"]
    assert {k: v["status"] for k, v in summary.items()} == {"vdn__climbing__s0": "done", "wvdn__climbing__s0": "done"}
    manifest = json.loads((tmp_path / "ids" / "manifest.json").read_text())
    for name in summary:
        cfg_text = (tmp_path / "ids" / "runs" / name / "config.yaml").read_text()
        assert f"algo: {name.split('__')[0]}\n" in cfg_text
        assert manifest["configs"][name]["algo"] == name.split("__")[0]
