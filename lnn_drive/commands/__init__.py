"""The command layer: ``lnn-drive <command> [overrides]`` and ``python scripts/<command>.py``.

Each command is one module here with ``CONFIG`` (the name of its ``conf/<CONFIG>.yaml``) and
``run(cfg) -> int``: it turns the composed config into typed config objects and calls
typed library functions. :func:`main` composes the config, runs the command and maps every
user mistake, Hydra's own included, to one ``error: ...`` line and exit status 2. See
``docs/architecture.md`` ("Adding a command").
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

# Before torch is imported by any command: see lnn_drive/train/__init__.py.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Command name (as typed after ``lnn-drive``) -> module implementing it.
COMMANDS: dict[str, str] = {
    "collect": "lnn_drive.commands.collect",
    "import-udacity": "lnn_drive.commands.import_udacity",
    "import-video": "lnn_drive.commands.import_video",
    "inspect": "lnn_drive.commands.inspect",
    "train": "lnn_drive.commands.train",
    "dagger": "lnn_drive.commands.dagger",
    "evaluate": "lnn_drive.commands.evaluate",
    "benchmark": "lnn_drive.commands.benchmark",
    "benchmark-report": "lnn_drive.commands.benchmark_report",
    "benchmark-drone": "lnn_drive.commands.benchmark_drone",
    "benchmark-drone-report": "lnn_drive.commands.benchmark_drone_report",
    "saliency": "lnn_drive.commands.saliency",
    "saliency-seeds": "lnn_drive.commands.saliency_seeds",
    "demo": "lnn_drive.commands.demo",
    "model-summary": "lnn_drive.commands.model_summary",
    "expert-check": "lnn_drive.commands.expert_check",
    "collect-drone": "lnn_drive.commands.collect_drone",
    "import-drone": "lnn_drive.commands.import_drone",
    "eval-drone": "lnn_drive.commands.eval_drone",
    "drone-expert-check": "lnn_drive.commands.drone_expert_check",
    "demo-drone": "lnn_drive.commands.demo_drone",
    "export": "lnn_drive.commands.export",
    "carracing-expert": "lnn_drive.commands.carracing_expert",
    "carracing-collect": "lnn_drive.commands.carracing_collect",
    "carracing-evaluate": "lnn_drive.commands.carracing_evaluate",
    "demo-carracing": "lnn_drive.commands.demo_carracing",
    "export-checkpoint": "lnn_drive.commands.export_checkpoint",
    "export-lerobot": "lnn_drive.commands.export_lerobot",
    "import-lerobot": "lnn_drive.commands.import_lerobot",
    "drive": "lnn_drive.commands.drive",
}

#: Exit status of a user mistake (bad option, bad input file).
USAGE_EXIT = 2

USAGE = """usage: lnn-drive <command> [key=value ...] [--cfg job] [--help]

commands:
{commands}

Options are Hydra overrides of conf/<command>.yaml, e.g. `lnn-drive train model=ncp_ltc`.
`--cfg job` prints the composed config without running; `<command> --help` its options."""


def _usage() -> str:
    return USAGE.format(commands="\n".join(f"  {name}" for name in COMMANDS))


def load_command(name: str) -> ModuleType:
    """The module of command ``name`` (``train``, ``import-udacity``; ``_`` works for ``-``)."""
    key = name.replace("_", "-")
    if key not in COMMANDS:
        from lnn_drive.commands.config import UsageError

        raise UsageError(f"unknown command {name!r}; commands: {', '.join(COMMANDS)}")
    return importlib.import_module(COMMANDS[key])


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's mistake: one line, exit 2, no traceback."""
    from lnn_drive.commands.config import UsageError
    from lnn_drive.data.log import LogFormatError

    return (UsageError, LogFormatError, ValueError, FileExistsError, FileNotFoundError)


@contextmanager
def job_logging(path: Path) -> Iterator[None]:
    """Log records at INFO and above to the console and to ``path`` (as ``@hydra.main``
    does) for the duration of one command; handlers are removed afterwards."""
    fmt = logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    root = logging.getLogger()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if os.environ.get("RANK", "0") == "0":
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path))
    level = root.level
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.setLevel(level)
        for h in handlers:
            root.removeHandler(h)
            h.close()


def main(argv: list[str] | None = None) -> int:
    """Run ``argv = [command, *overrides]``; returns the exit status (0 ok, 2 user error).

    Callable in-process (tests do): nothing here calls ``sys.exit``.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else USAGE_EXIT
    from omegaconf import OmegaConf

    from lnn_drive.commands.config import compose, print_error, write_run_record

    name, rest = args[0], args[1:]
    show: str | None = None
    overrides: list[str] = []
    it = iter(rest)
    try:
        command = load_command(name)
        for a in it:
            if a in ("--cfg", "-c"):
                show = next(it, "job")
            elif a.startswith("--cfg="):
                show = a.split("=", 1)[1]
            elif a in ("-h", "--help"):
                show = "help"
            elif a in ("-m", "--multirun"):
                from lnn_drive.commands.multirun import multirun

                return multirun(command, name, [x for x in rest if x not in ("-m", "--multirun")])
            elif a.startswith("-"):
                raise ValueError(f"unknown flag {a!r} (options are key=value overrides)")
            else:
                overrides.append(a)
        if show not in (None, "job", "hydra", "all", "help"):
            raise ValueError(f"--cfg takes job, hydra or all, got {show!r}")
        job, hydra = compose(command.CONFIG, overrides) if show != "help" else (None, None)
        if show == "help":
            print((command.__doc__ or "").strip())
            print(f"\noptions: conf/{command.CONFIG}.yaml (print them with --cfg job)")
            return 0
        if show is not None:
            parts = {"job": [job], "hydra": [hydra], "all": [job, hydra]}[show]
            for p in parts:
                print(OmegaConf.to_yaml(p), end="")
            return 0
        run_dir = write_run_record(job, hydra, overrides)
        with job_logging(run_dir / f"{command.CONFIG}.log"):
            return int(command.run(job) or 0)
    except user_error_types() as e:
        print_error(e)
        return USAGE_EXIT
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130


def main_exit() -> None:
    """The ``lnn-drive`` console script: :func:`main` as the process's exit status."""
    sys.exit(main())


def script_main(name: str) -> None:
    """What ``scripts/<name>.py`` runs: ``main([name, *sys.argv[1:]])`` as the exit status."""
    sys.exit(main([name, *sys.argv[1:]]))
