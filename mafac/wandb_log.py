"""The optional Weights & Biases log of a run (`run.wandb=true`, `pip install 'mafac[wandb]'`).

Like the TensorBoard log, a view of metrics.csv, with mafac/live_log.py's names: every metrics.csv
column as `metrics/<column>`, every update's stats as `update/<name>`, each charted against the
logged `env_steps`. The run's config is the resolved config (config.yaml's content).

Where it goes. Offline (files only, no network, no account) unless the user has set W&B up:
WANDB_MODE set (then wandb obeys it), or logged in (WANDB_API_KEY or WANDB_IDENTITY_TOKEN_FILE
set, or a netrc entry for the W&B host, which `wandb login` writes); then wandb's own default,
online. Either way the files go under the run dir (`<run_dir>/wandb/`), so a bench's run dirs
hold them and `wandb sync <run_dir>/wandb/offline-run-*` uploads an offline run later.

One W&B run per mafac run: its id is kept in `<run_dir>/wandb_id`, so a resumed run (from
checkpoint.pt) continues the same W&B run (resume="allow"); offline, each attempt is its own
`offline-run-*` folder under that one id. A bench's runs share its name as their W&B group (a
sweep's trial: `<sweep>/<trial>`).
"""

from __future__ import annotations

import netrc
import os
import secrets
import string
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional
from urllib.parse import urlsplit

from mafac.atomic import write_text
from mafac.errors import MafacError
from mafac.live_log import row_scalars, update_scalars

if TYPE_CHECKING:
    from mafac.config import Config

WANDB_ID = "wandb_id"  # in the run dir: the W&B run id every attempt of this run logs to
WANDB_DIR = "wandb"  # what wandb.init(dir=<run_dir>) writes under
PROJECT = "mafac"  # unless WANDB_PROJECT names another
INSTALL = "pip install 'mafac[wandb]'"
DEFAULT_HOST = "https://api.wandb.ai"


def _wandb():
    try:
        import wandb
    except ImportError:
        raise MafacError(f"run.wandb=true needs the wandb package: {INSTALL}")
    return wandb


def logged_in(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the user has given W&B credentials: an API key or identity token file in the
    environment, or a netrc entry (NETRC, else ~/.netrc) for the W&B host (WANDB_BASE_URL)."""
    if environ.get("WANDB_API_KEY") or environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(environ.get("WANDB_BASE_URL") or DEFAULT_HOST).netloc
    path = Path(environ.get("NETRC") or "~/.netrc").expanduser()
    try:
        entry = netrc.netrc(str(path)).authenticators(host) if host else None
    except (OSError, netrc.NetrcParseError):
        return False
    return bool(entry and entry[2])


def wandb_mode(environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """The `mode` for wandb.init: None (wandb decides: WANDB_MODE, else online) once the user has
    set W&B up, else "offline", so that asking for W&B never needs an account or a network."""
    if environ.get("WANDB_MODE") or logged_in(environ):
        return None
    return "offline"


def run_id(run_dir: Path) -> str:
    """The run's W&B id: the one in <run_dir>/wandb_id, else a new one, written there."""
    path = Path(run_dir) / WANDB_ID
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        kept = ""
    if kept:
        return kept
    new = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))  # W&B's own form
    write_text(path, new + "\n")
    return new


def _one_line(e: Exception) -> str:
    """wandb's errors on one line; its settings' (pydantic) say what was wrong only after the first."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("For further information")]
    return "; ".join(lines[:3]) or type(e).__name__


class WandbLog:
    def __init__(self, run_dir: Path, cfg: "Config", group: Optional[str] = None) -> None:
        """`group`: the bench the run belongs to (None: a lone `mafac train` run)."""
        wandb = _wandb()
        run_dir = Path(run_dir)
        settings = {"console": "off"}  # mafac's progress output is not the run's record
        if "WANDB_SILENT" not in os.environ:
            settings["silent"] = True  # a bench's workers share one terminal with its status line
        rid = run_id(run_dir)
        try:
            self.run = wandb.init(
                dir=str(run_dir), id=rid, resume="allow", name=run_dir.name, group=group,
                project=None if os.environ.get("WANDB_PROJECT") else PROJECT, tags=[cfg.algo, cfg.env.map],
                config=cfg.to_dict(), mode=wandb_mode(), reinit="create_new", settings=wandb.Settings(**settings))
        except Exception as e:  # no network online, a bad key, a bad WANDB_MODE: one line, not wandb's traceback
            raise MafacError(f"run.wandb=true: wandb.init failed: {_one_line(e)}")
        self.run.define_metric("env_steps")
        self.run.define_metric("metrics/*", step_metric="env_steps")
        self.run.define_metric("update/*", step_metric="env_steps")

    def update(self, stats: Mapping[str, float], env_steps: int) -> None:
        self.run.log({"env_steps": env_steps, **update_scalars(stats)})

    def record(self, row: Mapping[str, float]) -> None:
        self.run.log({"env_steps": int(row["env_steps"]), **row_scalars(row)})

    def close(self, failed: bool = False) -> None:
        """A failed run finishes with exit code 1, which W&B shows as failed; an interrupted one
        (Ctrl-C, a bench stopping its workers) as finished: its checkpoint lets it resume."""
        self.run.finish(exit_code=1 if failed else None)
