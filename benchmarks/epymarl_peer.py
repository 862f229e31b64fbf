"""EPyMARL's own QMIX on LBF beside a mafac bench: return at equal env steps and at equal wall time,
and env steps per CPU-second of each.

EPyMARL (github.com/uoe-agents/epymarl, pinned below) runs from its own source in its own virtualenv
under ~/.cache/mafac-peer (or $MAFAC_PEER_HOME), never inside mafac: `python -m venv
--system-site-packages` (it shares the system's torch and numpy, which a constraints file keeps
unchanged) plus sacred, PyYAML, gymnasium, lbforaging 2.0.0, and SMAClite at a pinned commit with
scikit-learn and rtree (EPyMARL's envs/__init__.py imports smaclite unconditionally; LBF never uses
it). Each run is EPyMARL's README command for LBF,

    python src/main.py --config=qmix --env-config=gymma with env_args.time_limit=50 \\
        env_args.key=lbforaging:Foraging-8x8-2p-2f-coop-v3 seed=S t_max=T ...

so its settings are its own config files' (src/config/default.yaml < envs/gymma.yaml <
algs/qmix.yaml); only seed, t_max, test_interval, test_nepisode, use_cuda=False and a label are
passed. Its test returns and their times come from sacred's metrics.json (test_return_mean: steps,
values, timestamps; wall s = timestamp - the run's sacred start_time, as mafac's wall_s counts from
its trainer's start), its CPU seconds from os.wait4 on the child (user + system, the process and
the children it waited for).

    python benchmarks/epymarl_peer.py results/<bench> --seeds 3 --t-max 2050000 --jobs 2
    python benchmarks/epymarl_peer.py results/<bench> --report-only       # the tables again
    python benchmarks/epymarl_peer.py --setup-only                        # install, run nothing
    python benchmarks/epymarl_peer.py measure results/<bench> -- mafac bench --env gym ... --name <bench>

`measure` runs any command and writes its CPU seconds into <bench>/cpu_usage.json, the only way
the mafac side gets env steps per CPU-second (a bench dir records wall time only): that figure is
the bench's total env steps over its total CPU, every run in it counted. Finished EPyMARL runs are
kept in --out (default results/epymarl_peer) and not run again; --jobs 2 runs two at once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from statistics import mean

EPYMARL_COMMIT = "cbc38c09588064eab978501d0f12c2cf58fa7fc2"  # main, 2024-09-24 "Update README.md"
SMACLITE_COMMIT = "0d6abbea1334011984ae4704a0ef7a33c36057d6"  # main, 2024-09-13
EPYMARL_URL = "https://github.com/uoe-agents/epymarl.git"
SMACLITE_URL = "https://github.com/uoe-agents/smaclite.git"
LOCAL_MIRRORS = {"epymarl": Path("/work/.mirror/uoe-agents+epymarl/repo"),
                 "smaclite": Path("/work/.mirror/uoe-agents+smaclite/repo")}
VENV_PACKAGES = ["sacred", "PyYAML", "gymnasium", "lbforaging==2.0.0", "scikit-learn", "rtree>=1.3"]
DEFAULT_KEY = "lbforaging:Foraging-8x8-2p-2f-coop-v3"
TIME_LIMIT = 50  # EPyMARL's README: every LBF task with env_args.time_limit=50
SETTINGS = ["lr", "batch_size", "buffer_size", "epsilon_start", "epsilon_finish", "epsilon_anneal_time",
            "target_update_interval_or_tau", "use_rnn", "hidden_dim", "obs_agent_id", "obs_last_action",
            "double_q", "standardise_rewards", "gamma", "grad_norm_clip", "mixing_embed_dim", "hypernet_layers",
            "hypernet_embed", "runner", "batch_size_run", "test_nepisode", "test_interval", "t_max"]


class PeerError(Exception):
    pass


def home() -> Path:
    return Path(os.environ.get("MAFAC_PEER_HOME", Path.home() / ".cache" / "mafac-peer"))


def sh(cmd, **kw):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if done.returncode:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PeerError(f"`{' '.join(map(str, cmd[:4]))} ...` failed (rc {done.returncode}): {' | '.join(tail)}")
    return done.stdout


def checkout(name: str, url: str, commit: str, dest: Path, source: str | None) -> Path:
    """A work tree of `commit`, cloned from a local mirror where there is one, else from `url`."""
    if (dest / ".git").exists() and sh(["git", "-C", dest, "rev-parse", "HEAD"]).strip() == commit:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    origin = source or (str(LOCAL_MIRRORS[name]) if LOCAL_MIRRORS[name].exists() else url)
    print(f"[peer] cloning {name} from {origin} at {commit[:12]}", flush=True)
    sh(["git", "clone", "-q", origin, dest])
    sh(["git", "-C", dest, "checkout", "-q", commit])
    return dest


def setup(args) -> tuple[Path, Path]:
    """(EPyMARL's source dir, the venv's python), installing whatever is missing."""
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    src = checkout("epymarl", EPYMARL_URL, EPYMARL_COMMIT, root / f"epymarl-{EPYMARL_COMMIT[:12]}", args.epymarl_src)
    venv = root / "venv"
    python = venv / "bin" / "python"
    marker = venv / "mafac-peer.json"
    want = {"epymarl": EPYMARL_COMMIT, "smaclite": SMACLITE_COMMIT, "packages": VENV_PACKAGES}
    if marker.exists() and json.loads(marker.read_text()).get("want") == want:
        return src, python
    probe = "import numpy, torch; print(numpy.__version__, torch.__version__)"
    try:
        np_v, torch_v = sh([sys.executable, "-c", probe]).split()
    except PeerError:
        raise PeerError(f"{sys.executable} cannot import torch and numpy: install torch==2.13.0 (CPU) first, "
                        "the peer's venv shares it") from None
    print(f"[peer] creating {venv} (--system-site-packages: torch {torch_v}, numpy {np_v} shared)", flush=True)
    sh([sys.executable, "-m", "venv", "--system-site-packages", venv])
    constraints = venv / "constraints.txt"
    constraints.write_text(f"numpy=={np_v}\ntorch=={torch_v}\n")
    sh([python, "-m", "pip", "install", "-q", "-c", constraints, *VENV_PACKAGES])
    smaclite = checkout("smaclite", SMACLITE_URL, SMACLITE_COMMIT, root / f"smaclite-{SMACLITE_COMMIT[:12]}",
                        args.smaclite_src)
    sh([python, "-m", "pip", "install", "-q", "--no-deps", smaclite])
    got = sh([python, "-c", "import sacred, lbforaging, smaclite, gymnasium, numpy, torch; "
              "print(sacred.__version__, gymnasium.__version__, numpy.__version__, torch.__version__)"]).split()
    if got[2:] != [np_v, torch_v]:
        raise PeerError(f"the venv's numpy/torch became {got[2:]}, not {[np_v, torch_v]}")
    marker.write_text(json.dumps({"want": want, "sacred": got[0], "gymnasium": got[1], "numpy": got[2],
                                  "torch": got[3]}, indent=1))
    print(f"[peer] venv ready: sacred {got[0]}, gymnasium {got[1]}, numpy {got[2]}, torch {got[3]}", flush=True)
    return src, python


# ---------------------------------------------------------------------------------------------- runs

def run_command(python: Path, args, seed: int, label: str) -> list[str]:
    return [str(python), "src/main.py", "--config=qmix", "--env-config=gymma", "with",
            f"env_args.time_limit={TIME_LIMIT}", f"env_args.key={args.key}", f"seed={seed}",
            f"t_max={args.t_max}", f"test_interval={args.test_interval}", f"test_nepisode={args.test_nepisode}",
            "use_cuda=False", f"label={label}"]


def find_sacred_dir(src: Path, key: str, label: str, log: Path) -> Path:
    base = src / "results" / "sacred" / "qmix" / key
    m = re.search(r'Started run with ID "(\d+)"', log.read_text(errors="replace"))
    candidates = [base / m.group(1)] if m else []
    candidates += sorted(base.glob("*/"), key=lambda p: p.stat().st_mtime, reverse=True)
    for d in candidates:
        try:
            if json.loads((d / "config.json").read_text()).get("label") == label:
                return d
        except (OSError, ValueError):
            continue
    raise PeerError(f"no sacred run labelled {label} under {base} (see {log})")


def run_all(src: Path, python: Path, args) -> None:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    spec = {"epymarl": EPYMARL_COMMIT, "key": args.key, "t_max": args.t_max, "test_interval": args.test_interval,
            "test_nepisode": args.test_nepisode, "time_limit": TIME_LIMIT}
    spec_file = out / "peer.json"
    if spec_file.exists() and json.loads(spec_file.read_text()) != spec:
        raise PeerError(f"{out} holds runs made with {json.loads(spec_file.read_text())}; use another --out")
    spec_file.write_text(json.dumps(spec, indent=1))
    todo = [s for s in args.seed_ids if not (out / f"qmix__s{s}" / "usage.json").exists()]
    if not todo:
        return
    print(f"[peer] EPyMARL QMIX on {args.key}: seeds {todo}, {args.t_max:,} env steps, test every "
          f"{args.test_interval:,} over {args.test_nepisode} episodes, {args.jobs} at once", flush=True)
    running: dict[int, tuple] = {}
    try:
        while todo or running:
            while todo and len(running) < args.jobs:
                seed = todo.pop(0)
                run_dir = out / f"qmix__s{seed}"
                run_dir.mkdir(exist_ok=True)
                label = f"mafacpeer_{os.getpid()}_{int(time.time())}_s{seed}"
                cmd = run_command(python, args, seed, label)
                log = run_dir / "stdout.log"
                with open(log, "w") as fh:
                    proc = subprocess.Popen(cmd, cwd=src, stdout=fh, stderr=subprocess.STDOUT,
                                            start_new_session=True)
                running[proc.pid] = (proc, seed, run_dir, label, cmd, time.time(), time.monotonic())
                print(f"[peer] seed {seed} started (pid {proc.pid}), log {log}", flush=True)
            pid, status, usage = os.wait4(-1, 0)
            if pid not in running:
                continue
            proc, seed, run_dir, label, cmd, started_at, t0 = running.pop(pid)
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - t0
            cpu = usage.ru_utime + usage.ru_stime
            if rc:
                raise PeerError(f"seed {seed} exited with {rc} after {wall:.0f} s; see {run_dir / 'stdout.log'}")
            sacred = find_sacred_dir(src, args.key, label, run_dir / "stdout.log")
            for name in ("config.json", "info.json", "metrics.json", "run.json"):
                shutil.copy(sacred / name, run_dir / name)
            record = {"seed": seed, "cmd": cmd, "cwd": str(src), "sacred_dir": str(sacred),
                      "started_at": started_at, "process_wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                      "user_s": round(usage.ru_utime, 2), "sys_s": round(usage.ru_stime, 2),
                      "max_rss_mb": round(usage.ru_maxrss / 1024, 1), "jobs": args.jobs}
            (run_dir / "usage.json").write_text(json.dumps(record, indent=1))
            print(f"[peer] seed {seed} done: {wall:.0f} s wall, {cpu:.0f} CPU s", flush=True)
    except BaseException:
        for proc, *_ in running.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        raise


# -------------------------------------------------------------------------------------------- curves

def _utc(stamp: str) -> datetime:
    """sacred's stamps: naive UTC (start_time and each metric's timestamps alike)."""
    return datetime.fromisoformat(stamp)


def epymarl_runs(out: Path) -> list[dict]:
    runs = []
    for run_dir in sorted(out.glob("qmix__s*")):
        if not (run_dir / "usage.json").exists():
            continue
        usage = json.loads((run_dir / "usage.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        sacred_run = json.loads((run_dir / "run.json").read_text())
        test = metrics["test_return_mean"]
        start = _utc(sacred_run["start_time"])
        curve = [(int(s), float(v), (_utc(t) - start).total_seconds())
                 for s, v, t in zip(test["steps"], test["values"], test["timestamps"])]
        train_steps = max(int(s) for s in metrics["return_mean"]["steps"]) if "return_mean" in metrics else None
        last = max(curve[-1][0], train_steps or 0)
        runs.append({"name": f"epymarl s{usage['seed']}", "curve": curve, "env_steps": last,
                     "wall_s": curve[-1][2], "process_wall_s": usage["process_wall_s"], "cpu_s": usage["cpu_s"],
                     "jobs": usage.get("jobs", 1), "config": json.loads((run_dir / "config.json").read_text())})
    return runs


def mafac_runs(bench: Path, algo: str, key: str) -> tuple[list[dict], dict | None]:
    import pandas as pd

    runs, total_steps = [], 0
    run_dirs = sorted(p.parent for p in bench.glob("runs/*/metrics.csv"))
    for run_dir in run_dirs:
        try:
            info = json.loads((run_dir / "run.json").read_text())
            frame = pd.read_csv(run_dir / "metrics.csv")
        except (OSError, ValueError):
            continue
        if frame.empty:
            continue
        total_steps += int(frame["env_steps"].iloc[-1])
        if info.get("algo") != algo or key.split(":")[-1] not in str(info.get("map")):
            continue
        rows = frame.dropna(subset=["test_return"])
        curve = [(int(r.env_steps), float(r.test_return), float(r.wall_s)) for r in rows.itertuples()]
        runs.append({"name": f"mafac s{info.get('seed')}", "curve": curve, "env_steps": int(frame["env_steps"].iloc[-1]),
                     "wall_s": float(frame["wall_s"].iloc[-1]), "run_dir": run_dir})
    cpu = None
    if (bench / "cpu_usage.json").exists():
        cpu = json.loads((bench / "cpu_usage.json").read_text())
        cpu["total_env_steps"] = total_steps
        cpu["runs_in_bench"] = len(run_dirs)
    return runs, cpu


def at_steps(curve, x: float, tol: float):
    best = min(curve, key=lambda p: abs(p[0] - x), default=None)
    return best[1] if best is not None and abs(best[0] - x) <= tol else None


def at_wall(curve, w: float):
    """(return, env steps) of the last evaluation finished by wall time w."""
    done = [p for p in curve if p[2] <= w]
    return (done[-1][1], done[-1][0]) if done else (None, None)


def spacing(runs) -> float:
    gaps = [b[0] - a[0] for r in runs for a, b in zip(r["curve"][1:], r["curve"][2:])]
    gaps.sort()
    return float(gaps[len(gaps) // 2]) if gaps else 0.0


def fmt(v, spec=".3f"):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def avg(values):
    vals = [v for v in values if v is not None]
    return mean(vals) if vals else None


def report(args) -> int:
    peer = epymarl_runs(args.out)
    if not peer:
        raise PeerError(f"no finished EPyMARL run in {args.out}")
    ours, cpu = mafac_runs(args.bench, args.mafac_algo, args.key) if args.bench else ([], None)
    if args.bench and not ours:
        raise PeerError(f"no {args.mafac_algo} run on {args.key} in {args.bench}/runs")
    cfg = peer[0]["config"]
    print(f"EPyMARL {EPYMARL_COMMIT[:12]} QMIX on {args.key}: src/config/default.yaml < envs/gymma.yaml < "
          f"algs/qmix.yaml, env_args.time_limit={cfg['env_args'].get('time_limit')}")
    print("  " + ", ".join(f"{k}={cfg.get(k)}" for k in SETTINGS))

    print("\n## Per run\n")
    print("| run | env steps | evaluations | final test return | training wall s | process wall s | CPU s | "
          "env steps per CPU-s | CPU s per 10k env steps |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in peer:
        rate = r["env_steps"] / r["cpu_s"]
        print(f"| {r['name']} | {r['env_steps']:,} | {len(r['curve'])} | {r['curve'][-1][1]:.3f} | {r['wall_s']:.0f} | "
              f"{r['process_wall_s']:.0f} | {r['cpu_s']:.0f} | {rate:,.0f} | {1e4 / rate:.1f} |")
    for r in ours:
        rate = cpu["total_env_steps"] / cpu["cpu_s"] if cpu else None
        print(f"| {r['name']} | {r['env_steps']:,} | {len(r['curve'])} | {r['curve'][-1][1]:.3f} | {r['wall_s']:.0f} | "
              f"- | - | {fmt(rate, ',.0f')} | {fmt(1e4 / rate if rate else None, '.1f')} |")
    if ours:
        if cpu:
            print(f"\nmafac's rate is its bench's: {cpu['total_env_steps']:,} env steps over {cpu['runs_in_bench']} "
                  f"runs in {cpu['cpu_s']:,.0f} CPU s (`{' '.join(cpu['cmd'])}`).")
        else:
            print(f"\nmafac: no CPU record ({args.bench}/cpu_usage.json); run the bench through "
                  "`python benchmarks/epymarl_peer.py measure <bench> -- mafac bench ...` to get one.")

    both = peer + ours
    step = max(spacing(peer), spacing(ours) if ours else 0.0) or float(args.test_interval)
    top = min(max(p[0] for p in r["curve"]) for r in both)
    grid = [k * step for k in range(int(top // step) + 1)]
    print(f"\n## Test return at equal env steps (nearest evaluation within {step / 2:,.0f} steps)\n")
    names = [r["name"] for r in peer] + ["EPyMARL mean"] + ([r["name"] for r in ours] + ["mafac mean"] if ours else [])
    print("| env steps | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for x in grid:
        a = [at_steps(r["curve"], x, step / 2) for r in peer]
        row = [fmt(v) for v in a] + [fmt(avg(a))]
        if ours:
            b = [at_steps(r["curve"], x, step / 2) for r in ours]
            row += [fmt(v) for v in b] + [fmt(avg(b))]
        print(f"| {int(x):,} | " + " | ".join(row) + " |")

    if ours:
        horizon = max(max(p[2] for p in r["curve"]) for r in both)
        points = [horizon * k / args.wall_points for k in range(1, args.wall_points + 1)]
        print("\n## Test return at equal wall time (the last evaluation finished by then; its env steps; "
              "a side whose runs had all ended by then shows their final evaluation)\n")
        print("| wall s | EPyMARL mean return | EPyMARL env steps | mafac mean return | mafac env steps |")
        print("|---|---|---|---|---|")
        for w in points:
            a = [at_wall(r["curve"], w) for r in peer]
            b = [at_wall(r["curve"], w) for r in ours]
            print(f"| {w:,.0f} | {fmt(avg([v for v, _ in a]))} | {fmt(avg([s for _, s in a]), ',.0f')} | "
                  f"{fmt(avg([v for v, _ in b]))} | {fmt(avg([s for _, s in b]), ',.0f')} |")
    jobs = {r["jobs"] for r in peer}
    print(f"\nEPyMARL ran {'/'.join(map(str, sorted(jobs)))} at once on {os.cpu_count()} cores; wall s of both sides "
          "count from their training loop's start (sacred start_time; mafac's trainer), process wall s from launch.")
    return 0


# ------------------------------------------------------------------------------------------ measure

def measure(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="epymarl_peer.py measure",
                                 description="Run a command; write its CPU seconds into BENCH/cpu_usage.json.")
    ap.add_argument("bench", type=Path)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        raise PeerError("measure: give the command after --")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    a.bench.mkdir(parents=True, exist_ok=True)
    record = {"cmd": cmd, "rc": rc, "wall_s": round(time.monotonic() - t0, 1),
              "cpu_s": round(usage.ru_utime + usage.ru_stime, 1)}
    prior = a.bench / "cpu_usage.json"
    if prior.exists():  # a resumed bench: its sessions add up
        old = json.loads(prior.read_text())
        record["wall_s"] += old.get("wall_s", 0)
        record["cpu_s"] += old.get("cpu_s", 0)
        record["sessions"] = old.get("sessions", 1) + 1
    prior.write_text(json.dumps(record, indent=1))
    print(f"[peer] {record['cpu_s']:,.0f} CPU s, {record['wall_s']:,.0f} s wall -> {prior}")
    return rc


def main(argv: list[str]) -> int:
    if argv[:1] == ["measure"]:
        return measure(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path, nargs="?", help="a mafac bench dir (results/<name>) to set beside")
    ap.add_argument("--seeds", default="3", help="a count (3 = seeds 0,1,2) or ids with commas (0,4,7)")
    ap.add_argument("--t-max", type=int, default=2_050_000, help="env steps (EPyMARL's gymma.yaml: 2,050,000)")
    ap.add_argument("--test-interval", type=int, default=50_000, help="gymma.yaml: 50,000")
    ap.add_argument("--test-nepisode", type=int, default=100, help="gymma.yaml: 100")
    ap.add_argument("--key", default=DEFAULT_KEY, help="the LBF task, as EPyMARL's env_args.key")
    ap.add_argument("--jobs", type=int, choices=(1, 2), default=1, help="EPyMARL runs at once")
    ap.add_argument("--out", type=Path, default=Path("results/epymarl_peer"))
    ap.add_argument("--mafac-algo", default="qmix")
    ap.add_argument("--wall-points", type=int, default=8, help="rows of the equal-wall-time table")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--setup-only", action="store_true")
    ap.add_argument("--epymarl-src", help="where to clone EPyMARL from (default: a local mirror, else GitHub)")
    ap.add_argument("--smaclite-src", help="where to clone SMAClite from")
    args = ap.parse_args(argv)
    s = args.seeds
    args.seed_ids = [int(x) for x in s.split(",") if x.strip()] if "," in s else list(range(int(s)))
    if not args.report_only:
        src, python = setup(args)
        if args.setup_only:
            print(f"[peer] EPyMARL {EPYMARL_COMMIT[:12]} in {src}; venv python {python}")
            return 0
        run_all(src, python, args)
    return report(args)


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except PeerError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
