"""Typed experiment configs: dataclasses whose defaults reproduce PyMARL's QMIX/VDN on SMAC.

A config is built from (preset, algorithm) defaults, then a YAML file (`--config`), then
`--set section.key=value` overrides, in that order. Every key and value is checked against the
dataclass fields, so a typo is a one-line error naming the key and the valid ones, not a silently
ignored setting. The mixer section's type comes from the chosen mixer (plugins bring their own).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

from mafac.errors import MafacError, first_line, unknown
from mafac.options import build_options, set_option


@dataclass
class EnvConfig:
    backend: str = "smax"
    map: str = "3m"
    n_envs: int = 8  # envs stepped together by the training runner
    test_n_envs: int = 32  # one greedy test episode per env per evaluation (PyMARL: 32)
    # The backend's own options: its `Config` dataclass once resolved (every field lands in
    # config.yaml), a dict of overrides while the config is being built.
    kwargs: Any = field(default_factory=dict)


@dataclass
class AgentConfig:
    hidden_dim: int = 64  # GRU width (PyMARL rnn_hidden_dim)
    obs_agent_id: bool = True
    obs_last_action: bool = True
    # LayerNorm before each ReLU and on the GRU output: PQN's stabiliser for learning without a
    # target network (off by default, so replay-learner checkpoints keep their parameters)
    layer_norm: bool = False


@dataclass
class ExplorationConfig:
    epsilon_start: float = 1.0
    epsilon_finish: float = 0.05
    epsilon_anneal_steps: int = 50_000  # env steps (PyMARL: 50k)
    uniform: bool = False  # always uniform-random actions (the matrix-game papers' setting)


@dataclass
class ReplayConfig:
    capacity: int = 5000  # episodes (PyMARL buffer_size)
    obs_dtype: str = "float16"  # float16 halves memory; see README for the accuracy cost


@dataclass
class LearnerConfig:
    # replay: episode replay + target networks (PyMARL); online: no replay, no target network,
    # each batch of fresh episodes trained on for a few epochs and dropped (PQN; mafac/online.py)
    kind: str = "replay"
    # float32 | bfloat16 (autocast of the networks' forward and backward) | auto (bfloat16 where
    # the device computes it natively); parameters, optimiser state and TD targets stay float32
    precision: str = "float32"
    gamma: float = 0.99
    lr: float = 5e-4
    # linear: lr falls linearly from `lr` at env step 0 to `lr_final` at run.t_max (PQN on SMAX
    # decays to 0): late updates then refine the greedy policy instead of jittering it
    lr_schedule: str = "constant"
    lr_final: float = 0.0
    optimizer: str = "rmsprop"  # rmsprop (PyMARL) | adam (pymarl2)
    optim_alpha: float = 0.99  # RMSprop smoothing
    optim_eps: float = 1e-5
    grad_clip: float = 10.0
    batch_size: int = 32  # episodes per update
    train_every_episodes: int = 1  # one update per this many finished episodes (PyMARL: 1)
    target_update_episodes: int = 200  # hard target update period, in episodes
    double_q: bool = True
    td_lambda: float = 0.0  # 0 = one-step TD (PyMARL); pymarl2 uses 0.6
    n_step: int = 1  # n-step returns; > 1 only with td_lambda == 0 (the two are alternative targets)
    start_episodes: int = 32  # updates begin once this many episodes are stored
    # TD targets from rewards standardised by their running mean and std (EPyMARL's
    # standardise_rewards; mafac/reward_norm.py): for sparse rewards such as LBF's
    standardise_rewards: bool = False


@dataclass
class OnlineConfig:
    """The online learner's own settings (read only when learner.kind is online)."""

    episodes_per_update: int = 32  # fresh finished episodes per update, then dropped
    epochs: int = 2  # passes over each update's episodes
    minibatches: int = 2  # gradient steps per pass


@dataclass
class RunConfig:
    t_max: int = 1_000_000  # env steps
    test_interval: int = 10_000  # env steps between greedy evaluations
    checkpoint: bool = True  # write checkpoint.pt at each evaluation
    torch_threads: int = 1  # one core for torch, the other for JAX's env step
    device: str = "cpu"  # agent, mixer, learner and replay: cpu | cuda | cuda:N | auto (cuda when torch sees one)
    # greedy episodes of the final policy once t_max is reached, into final_eval.json (0: none);
    # `mafac bench` sets 10 x env.test_n_envs (--final-episodes), the protocol's absolute metric
    final_episodes: int = 0
    tensorboard: bool = False  # also log metrics and per-update losses to <run_dir>/tensorboard (mafac[tensorboard])
    wandb: bool = False  # the same to Weights & Biases, offline unless W&B is set up, files in <run_dir>/wandb (mafac[wandb])


@dataclass
class Config:
    algo: str = "qmix"
    seed: int = 0
    preset: str = "pymarl"
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    exploration: ExplorationConfig = field(default_factory=ExplorationConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)
    run: RunConfig = field(default_factory=RunConfig)
    mixer: Any = None  # the algorithm's own config dataclass

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# Presets: overrides on top of the dataclass defaults (which are PyMARL's). DEFAULT_PRESET is what
# `mafac train`, `mafac bench`, `mafac config` and the API start from unless told otherwise: one
# default for every entry point, the settings measured to learn fastest per CPU-second.
DEFAULT_PRESET = "online"
PRESETS: Dict[str, Dict[str, Any]] = {
    "pymarl": {},
    # In the spirit of pymarl2 (Hu et al. 2021, "Rethinking the implementation tricks..."):
    # Adam, TD(lambda), bigger batches, longer exploration.
    "tuned": {
        "learner.optimizer": "adam",
        "learner.lr": 1e-3,
        "learner.td_lambda": 0.6,
        "learner.batch_size": 128,
        "learner.train_every_episodes": 8,
        "exploration.epsilon_anneal_steps": 100_000,
    },
    # PyMARL's networks and replay with a quarter of its updates (Adam, TD(lambda)): on a CPU the
    # GRU unroll is most of the cost, so fewer, better updates learn most per CPU-second (docs/results.md).
    "fast": {
        "learner.optimizer": "adam",
        "learner.lr": 1e-3,
        "learner.td_lambda": 0.6,
        "learner.train_every_episodes": 4,
    },
    # `fast` with twice its updates: better per env step, worse per CPU-minute (results/recipe/NOTES.md).
    "recipe": {
        "learner.optimizer": "adam",
        "learner.lr": 1e-3,
        "learner.td_lambda": 0.6,
        "learner.train_every_episodes": 2,
    },
    # The online learner (mafac/online.py, PQN-style): many envs, LayerNorm and a decaying lr stand
    # in for the replay and target network it does without (results/online_3m/NOTES.md).
    "online": {
        "learner.kind": "online",
        "learner.optimizer": "adam",
        "learner.lr": 1e-3,
        "learner.td_lambda": 0.6,
        "learner.lr_schedule": "linear",  # late updates refine the greedy policy instead of jittering it
        "env.n_envs": 32,
        "agent.layer_norm": True,
    },
    # One-step matrix games: thousands of tiny episodes, so bigger, rarer updates.
    "matrix": {
        "env.backend": "matrix",
        "env.map": "qtran_game",
        "env.n_envs": 16,
        "env.test_n_envs": 16,
        "learner.optimizer": "adam",
        "learner.lr": 2e-3,
        "learner.batch_size": 64,
        "learner.train_every_episodes": 4,
        "learner.target_update_episodes": 100,
        "exploration.epsilon_anneal_steps": 2_000,
        "run.t_max": 10_000,
        "run.test_interval": 1_000,
    },
}

_ALLOWED = {
    "learner.optimizer": ("rmsprop", "adam"),
    "learner.lr_schedule": ("constant", "linear"),
    "learner.kind": ("replay", "online"),
    "learner.precision": ("float32", "bfloat16", "auto"),
    "replay.obs_dtype": ("float16", "float32"),
}


def _backend_defaults(backend: Optional[str], parsed, from_file: Dict[str, Any], preset_backend: str) -> Dict[str, Any]:
    """The `default_overrides` of the env backend the run will use, decided as build_config decides
    it (--env, then a --set env.backend, then the file's, then the preset's)."""
    from mafac.envs import get_env_class

    chosen = backend
    if chosen is None:
        chosen = next((v for k, v in reversed(parsed) if k == "env.backend"), from_file.get("env.backend", preset_backend))
    return dict(getattr(get_env_class(str(chosen)), "default_overrides", {}))


def build_config(
    algo: Optional[str] = None,
    map_name: Optional[str] = None,
    seed: Optional[int] = None,
    preset: Optional[str] = None,
    config_file: Optional[str | Path] = None,
    overrides: typing.Sequence[str] = (),
    backend: Optional[str] = None,
    default_preset: str = DEFAULT_PRESET,
    say: Optional[typing.Callable[[str], None]] = None,
    settings: Optional[typing.Mapping[str, Any]] = None,
) -> Config:
    """Resolve a config in the documented order and validate the names it refers to.

    Every key of `config_file`, `algo` and `preset` included, applies unless an argument
    (`algo`, `map_name`, `seed`, `backend`, `preset`: None means "not given") or an override
    names it too; then the argument wins, and `say` (if given) is told in one line, because a
    config file is a promise about what runs. `default_preset` is the preset used when neither
    `preset` nor the config file names one. `settings`: {key: typed value}, applied after
    `overrides` as if they were more of them."""
    from mafac.mixers import get_mixer

    file_data: Dict[str, Any] = {}
    if config_file is not None:
        file_data = load_yaml(config_file)
        if not isinstance(file_data, dict):
            raise MafacError(f"{config_file}: expected a mapping of config sections, got {type(file_data).__name__}")
    from_file = dict(_flatten(file_data))
    # `--set` texts first, then typed settings (Python keywords, a sweep's trial): both are
    # (key, value) pairs from here on, the texts parsed as YAML values
    parsed = [_parse_override(o) for o in overrides] + list((settings or {}).items())
    given = {"algo": algo, "preset": preset, "seed": seed, "env.map": map_name, "env.backend": backend}
    flags = {"algo": "--algo", "preset": "--preset", "seed": "--seed", "env.map": "--map", "env.backend": "--env"}
    if say is not None:
        for key, value in given.items():
            if value is not None and key in from_file and from_file[key] != value:
                say(f"{flags[key]} {value} overrides {key}: {from_file[key]} in {config_file}")
        for key, value in parsed:
            if key in from_file and from_file[key] != value:
                say(f"{key}={value} overrides {key}: {from_file[key]} in {config_file}")
    algo = algo if algo is not None else from_file.get("algo", "qmix")
    preset = preset if preset is not None else from_file.get("preset")
    for key, value in parsed:  # algo and preset decide the defaults, so they are read first
        if key == "algo":
            algo = value
        if key == "preset":
            preset = value
    if "algo" in from_file and from_file["algo"] != algo:  # the file's mixer section is another mixer's
        dropped = sorted(k for k in from_file if k.startswith("mixer."))
        from_file = {k: v for k, v in from_file.items() if not k.startswith("mixer.")}
        if dropped and say is not None:
            say(f"the mixer section of {config_file} is {from_file['algo']}'s; {algo} uses its own defaults")
    mixer_cls = get_mixer(algo)
    preset = preset or default_preset
    if preset not in PRESETS:
        raise unknown("preset", preset, PRESETS)
    cfg = Config(algo=algo, preset=preset, mixer=mixer_cls.Config())
    for key, value in PRESETS[preset].items():
        set_key(cfg, key, value)
    for key, value in getattr(mixer_cls, "default_overrides", {}).items():
        set_key(cfg, key, value)
    for key, value in _backend_defaults(backend, parsed, from_file, cfg.env.backend).items():
        set_key(cfg, key, value)
    for key, value in from_file.items():
        if key not in ("algo", "preset"):
            set_key(cfg, key, value)
    if map_name is not None:
        cfg.env.map = map_name
    if backend is not None:
        cfg.env.backend = backend
    if seed is not None:
        cfg.seed = seed
    for key, value in parsed:
        if key not in ("algo", "preset"):
            set_key(cfg, key, value)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    from mafac.envs import check_map, env_options
    from mafac.mixers import get_mixer as get_mixer_class

    check_map(cfg.env.backend, cfg.env.map)
    cfg.env.kwargs = env_options(cfg.env.backend, cfg.env.kwargs)
    for key, choices in _ALLOWED.items():
        value = get_key(cfg, key)
        if value not in choices:
            raise MafacError(f"bad value {value!r} for {key}; valid choices: {', '.join(choices)}")
    positive = ["env.n_envs", "env.test_n_envs", "learner.batch_size", "learner.train_every_episodes",
                "learner.target_update_episodes", "learner.n_step", "replay.capacity", "run.t_max",
                "run.test_interval", "agent.hidden_dim", "run.torch_threads", "online.episodes_per_update",
                "online.epochs", "online.minibatches"]
    for key in positive:
        if get_key(cfg, key) <= 0:
            raise MafacError(f"bad value {get_key(cfg, key)!r} for {key}; it must be > 0")
    learners = get_mixer_class(cfg.algo).learners
    if cfg.learner.kind not in learners:
        raise MafacError(f"{cfg.algo} does not run under learner.kind={cfg.learner.kind}; it supports: {', '.join(learners)}")
    if cfg.online.minibatches > cfg.online.episodes_per_update:
        raise MafacError(f"bad value {cfg.online.minibatches!r} for online.minibatches; it must be <= "
                         f"online.episodes_per_update ({cfg.online.episodes_per_update})")
    if cfg.run.final_episodes < 0:
        raise MafacError(f"bad value {cfg.run.final_episodes!r} for run.final_episodes; it must be >= 0 (0: no final evaluation)")
    if not 0.0 <= cfg.learner.td_lambda <= 1.0:
        raise MafacError(f"bad value {cfg.learner.td_lambda!r} for learner.td_lambda; it must be in [0, 1]")
    if cfg.learner.n_step > 1 and cfg.learner.td_lambda > 0:
        raise MafacError(f"learner.n_step={cfg.learner.n_step} and learner.td_lambda={cfg.learner.td_lambda} are two "
                         f"different targets; set learner.td_lambda=0 to use n-step returns, or learner.n_step=1")
    if not 0.0 < cfg.learner.gamma <= 1.0:
        raise MafacError(f"bad value {cfg.learner.gamma!r} for learner.gamma; it must be in (0, 1]")
    if cfg.learner.lr <= 0:
        raise MafacError(f"bad value {cfg.learner.lr!r} for learner.lr; it must be > 0")
    if not 0.0 <= cfg.learner.lr_final <= cfg.learner.lr:
        raise MafacError(f"bad value {cfg.learner.lr_final!r} for learner.lr_final; it must be in [0, learner.lr]")
    from mafac.device import check_device_name

    check_device_name(cfg.run.device)


# -- keys ------------------------------------------------------------------------------------------
def _sections(cfg: Config) -> Dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, f.name))}


def valid_keys(cfg: Config) -> typing.List[str]:
    keys = [f.name for f in dataclasses.fields(cfg) if not dataclasses.is_dataclass(getattr(cfg, f.name)) and f.name != "mixer"]
    for name, section in _sections(cfg).items():
        keys += [f"{name}.{f.name}" for f in dataclasses.fields(section) if f"{name}.{f.name}" != "env.kwargs"]
    if dataclasses.is_dataclass(cfg.env.kwargs):
        keys += [f"env.kwargs.{f.name}" for f in dataclasses.fields(cfg.env.kwargs)]
    return keys


def get_key(cfg: Config, key: str) -> Any:
    obj, leaf = _resolve(cfg, key)
    return getattr(obj, leaf)


def set_key(cfg: Config, key: str, value: Any) -> None:
    obj, leaf = _resolve(cfg, key)
    if key.startswith("env.kwargs."):
        if dataclasses.is_dataclass(obj):  # resolved: checked now; a dict is checked by validate()
            cfg.env.kwargs = build_options(type(obj), {**dataclasses.asdict(obj), leaf: value}, "env.kwargs")
        else:
            obj[leaf] = value
        return
    set_option(obj, leaf, value, key.rpartition(".")[0])


def _resolve(cfg: Config, key: str):
    parts = key.split(".")
    if len(parts) >= 3 and parts[0] == "env" and parts[1] == "kwargs":
        return cfg.env.kwargs, ".".join(parts[2:])
    if len(parts) == 1 and parts[0] in {f.name for f in dataclasses.fields(cfg)} and parts[0] not in _sections(cfg):
        return cfg, parts[0]
    if len(parts) == 2:
        section = _sections(cfg).get(parts[0])
        if section is not None and parts[1] in {f.name for f in dataclasses.fields(section)}:
            return section, parts[1]
    more = [] if dataclasses.is_dataclass(cfg.env.kwargs) else ["env.kwargs.<name>"]
    raise unknown("config key", key, valid_keys(cfg) + more)


def _parse_override(text: str):
    if "=" not in text:
        raise MafacError(f"bad --set {text!r}; expected section.key=value, e.g. learner.lr=0.001")
    key, _, raw = text.partition("=")
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _flatten(data: Dict[str, Any], prefix: str = ""):
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and full != "env.kwargs" and not full.startswith("env.kwargs."):
            yield from _flatten(value, full + ".")
        elif full == "env.kwargs" and isinstance(value, dict):
            for k, v in value.items():
                yield f"env.kwargs.{k}", v
        else:
            yield full, value


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise MafacError(f"config file {str(path)!r} not found")
    except yaml.YAMLError as e:
        raise MafacError(f"{path}: not valid YAML ({first_line(e)})")


def config_from_dict(data: Dict[str, Any]) -> Config:
    """Rebuild a resolved config (a run dir's config.yaml) exactly, e.g. for eval and resume."""
    from mafac.mixers import get_mixer

    if not isinstance(data, dict) or "algo" not in data:
        raise MafacError("not a resolved mafac config: no 'algo' key")
    mixer_cls = get_mixer(data["algo"])
    cfg = Config(algo=data["algo"], preset=data.get("preset", "pymarl"), mixer=mixer_cls.Config())
    for key, value in _flatten({k: v for k, v in data.items() if k not in ("algo", "preset", "mixer")}):
        set_key(cfg, key, value)
    for key, value in (data.get("mixer") or {}).items():
        set_key(cfg, f"mixer.{key}", value)
    validate(cfg)
    return cfg
