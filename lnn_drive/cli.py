"""Helpers for the thin command-line entry points in ``scripts/``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from lnn_drive.data.log import LogFormatError

T = TypeVar("T")

#: Errors caused by the user's input: reported in one line, no traceback.
USER_ERRORS = (LogFormatError, ValueError, FileExistsError, FileNotFoundError)


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a user-input error as one ``error: ...`` line and exit with status 2."""
    try:
        yield
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from e


def dataclass_from_cfg(cls: type[T], cfg: DictConfig | dict[str, Any]) -> T:
    """Build a config dataclass from the matching keys of a Hydra config; a required key
    left as ``???`` is reported by name."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if isinstance(cfg, DictConfig):
        keys = set(cfg.keys())  # `in` on a DictConfig is False for ??? values
        missing = [n for n in names if n in keys and OmegaConf.is_missing(cfg, n)]
        if missing:
            raise ValueError(
                f"missing required option(s): {', '.join(missing)} (pass e.g. {missing[0]}=...)"
            )
        cfg = OmegaConf.to_container(cfg, resolve=True)
    return cls(**{k: v for k, v in cfg.items() if k in names})  # type: ignore[call-arg]


def compose_config(name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose another of the project's top-level configs (e.g. ``train``) from Python, inside
    or outside a running ``@hydra.main`` app. ``${hydra:...}`` values are not available in a
    composed config: callers override ``paths.output_dir`` explicitly."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lnn_drive import PROJECT_ROOT

    overrides = list(overrides or [])
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=name, overrides=overrides)
    with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT_ROOT / "conf")):
        return compose(config_name=name, overrides=overrides)
