"""Composing Hydra configs and turning them into typed config objects.

This module and the command modules beside it are the only code in ``lnn_drive`` that
imports Hydra or OmegaConf (``tests/test_imports.py`` keeps it so). Library functions take
the frozen dataclass configs built here.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from lnn_drive import PROJECT_ROOT

if TYPE_CHECKING:
    from lnn_drive.data.dataset import DataConfig
    from lnn_drive.envs.config import EnvConfig
    from lnn_drive.eval.evaluate import EvalConfig
    from lnn_drive.models.config import ModelConfig
    from lnn_drive.train.bc import TrainConfig

#: Where the project's Hydra configs live.
CONF_DIR = PROJECT_ROOT / "conf"

T = TypeVar("T")

#: Keys of every command's config that are not options of its library call.
JOB_KEYS = ("paths", "env", "task_name", "command")

# Lets configs say ${project_root:} instead of depending on the working directory.
if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))


class UsageError(ValueError):
    """A mistake on the command line (unknown option, missing value, bad override)."""


def one_line(message: object) -> str:
    """Collapse a (possibly multi-line) message into one line."""
    return " ".join(str(message).split())


def _hydra_message(e: Exception) -> str:
    text = str(e)
    # Hydra appends its search path to a missing-config error: noise for a user.
    text = text.split("Config search path:")[0]
    text = text.split("See https://hydra.cc")[0]
    return one_line(text)


def _bad_override(overrides: list[str] | None) -> str:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for o in overrides or []:
        try:
            parser.parse_override(o)
        except Exception:
            return o
    return " ".join(overrides or [])


@contextmanager
def _initialised() -> Iterator[None]:
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # e.g. a test composed a config before
        GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        yield


def compose(name: str, overrides: list[str] | None = None) -> tuple[DictConfig, DictConfig]:
    """Compose ``conf/<name>.yaml`` with ``overrides``.

    Returns:
        ``(job, hydra)``: the job config with every interpolation resolvable (including
        ``${hydra:runtime.output_dir}``, set to the run directory ``hydra.run.dir``), and
        Hydra's own node.

    Raises:
        UsageError: unknown config group option, unknown key, unparsable override, or a
            required (``???``) value left unset; one line naming it.
    """
    from hydra import compose as hydra_compose
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException, OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with _initialised():
            cfg = hydra_compose(
                config_name=name, overrides=list(overrides or []), return_hydra_config=True
            )
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(Path(str(cfg.hydra.run.dir)).absolute())
            cfg.hydra.job.name = name
        HydraConfig.instance().set_config(cfg)
        job = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
        missing = sorted(OmegaConf.missing_keys(job))
        if missing:
            raise UsageError(
                f"missing required option(s): {', '.join(missing)} (pass e.g. {missing[0]}=...)"
            )
        OmegaConf.resolve(job)
    except OverrideParseException as e:
        raise UsageError(
            f"cannot parse override {_bad_override(overrides)!r}: {_hydra_message(e)}"
        ) from e
    except HydraException as e:
        raise UsageError(_hydra_message(e)) from e
    except OmegaConfBaseException as e:
        raise UsageError(f"bad config value: {one_line(e)}") from e
    return job, cfg.hydra


def write_run_record(job: DictConfig, hydra: DictConfig, overrides: list[str]) -> Path:
    """Create the run directory and record the composed config there (``.hydra/``), as
    ``@hydra.main`` does; only rank 0 writes under ``torchrun``."""
    run_dir = Path(str(hydra.runtime.output_dir))
    if os.environ.get("RANK", "0") == "0":
        rec = run_dir / ".hydra"
        rec.mkdir(parents=True, exist_ok=True)
        (rec / "config.yaml").write_text(OmegaConf.to_yaml(job))
        (rec / "overrides.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(overrides)))
    return run_dir


def plain(node: Any) -> Any:
    """A config node as plain Python (dicts, lists, scalars)."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


_SCALARS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "None": (type(None),),
}


def _type_ok(value: Any, annotation: str) -> bool:
    """Whether ``value`` fits a simple annotation (``int``, ``float | None``, ``bool | str``,
    ``tuple[...]``, ``list[...]``, ``Mapping[...]``); anything else is left to the class."""
    accepted: list[type] = []
    for part in (p.strip() for p in annotation.split("|")):
        base = part.split("[")[0]
        if base in _SCALARS:
            accepted += _SCALARS[base]
        elif base in ("tuple", "list", "Sequence"):
            accepted += [list, tuple]
        elif base in ("dict", "Mapping"):
            accepted.append(Mapping)
        else:
            return True
    if isinstance(value, bool) and bool not in accepted:
        return False  # True is an int to Python, not to a user
    return isinstance(value, tuple(accepted))


def _coerce(value: Any, default: Any, annotation: str, where: str) -> Any:
    if dataclasses.is_dataclass(default) and isinstance(value, Mapping):
        return to_dataclass(type(default), value, where=where)
    if not _type_ok(value, annotation):
        raise UsageError(f"{where.rstrip('.')}: expected {annotation}, got {value!r}")
    if isinstance(value, list) and ("tuple" in annotation or isinstance(default, tuple)):
        return tuple(value)
    return value


def to_dataclass(cls: type[T], node: Any, *, where: str = "", ignore: tuple[str, ...] = ()) -> T:
    """Build config dataclass ``cls`` from a config node; keys that are not fields are
    refused by name (``where`` prefixes the names, e.g. ``train.``)."""
    d = dict(plain(node) or {})
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(k for k in d if k not in names and k not in ignore)
    if unknown:
        raise UsageError(
            f"unknown option(s) {', '.join(where + k for k in unknown)}; "
            f"valid: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for k, v in d.items():
        if k in ignore:
            continue
        f = names[k]
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        kwargs[k] = _coerce(v, default, str(f.type), f"{where}{k}.")
    return cls(**kwargs)  # type: ignore[call-arg]


def print_error(message: object) -> None:
    """The one line a user sees for a mistake."""
    print(f"error: {one_line(message)}", file=sys.stderr)


def env_config(node: Any) -> EnvConfig:
    """The ``env`` group as an :class:`~lnn_drive.envs.config.EnvConfig` (``id`` aside)."""
    from lnn_drive.envs.config import EnvConfig

    return to_dataclass(EnvConfig, node, where="env.", ignore=("id", "_target_"))


def model_config(node: Any) -> ModelConfig:
    """The ``model`` group as a :class:`~lnn_drive.models.config.ModelConfig`."""
    from lnn_drive.models.config import ModelConfig

    return to_dataclass(ModelConfig, node, where="model.")


def model_config_named(name: str) -> ModelConfig:
    """The config of ``conf/model/<name>.yaml``."""
    path = CONF_DIR / "model" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
        raise UsageError(f"unknown model {name!r}; known: {', '.join(known)}")
    return model_config(OmegaConf.load(path))


def train_configs(cfg: DictConfig) -> tuple[TrainConfig, DataConfig, ModelConfig]:
    """The ``train``, ``data`` and ``model`` groups of a composed config, typed."""
    from lnn_drive.data.dataset import DataConfig
    from lnn_drive.train.bc import TrainConfig

    data = to_dataclass(DataConfig, cfg.data, where="data.")
    return to_dataclass(TrainConfig, cfg.train, where="train."), data, model_config(cfg.model)


def eval_config(node: Any) -> EvalConfig:
    """The ``eval`` group as an :class:`~lnn_drive.eval.evaluate.EvalConfig`."""
    from lnn_drive.eval.evaluate import EvalConfig

    return to_dataclass(EvalConfig, node, where="eval.")


def run_dir(cfg: DictConfig) -> Path:
    """The run's output folder (``paths.output_dir``, the Hydra run directory)."""
    return Path(str(cfg.paths.output_dir))


def train_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """``train(**train_kwargs(cfg))`` trains what ``lnn-drive train`` would with ``cfg``."""
    tc, data, model = train_configs(cfg)
    return {"cfg": tc, "data": data, "model": model, "run_dir": run_dir(cfg)}
