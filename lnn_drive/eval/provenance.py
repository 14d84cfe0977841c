"""Provenance, resumption and sharding of benchmark results.

Every (model, seed, condition) result is stored as a small JSON file keyed by

* ``config_hash``: SHA-256 of the canonical JSON of the *full* configuration that produced
  it (model, training recipe, data, environment, evaluation options, condition, roads), and
* ``code``: the version of the code that produced it: a hash of the source files of the
  ``lnn_drive`` modules imported when the result is produced (:func:`code_version`; the
  benchmark leaves out ``conf/``, whose contribution is the resolved config the hash
  already covers, and its presentation-only report modules), so committing results, docs,
  a better report or code the run never imports (a drone fix for a car benchmark) does
  not invalidate anything.

:class:`ResultStore` hands back a stored result only when both match; a result made by
another config or another code version is *stale* and is refused (:class:`StaleResultError`)
rather than reused. ``benchmark.shard=i/n`` (:func:`parse_shard`, :func:`shard_items`)
splits the work deterministically, so ``n`` machines can each run one shard, commit their
JSONs under ``docs/results/`` and any machine can resume or report from the union.

Road seed ranges (:class:`RoadRanges`) are declared here once: training collection uses
roads 0-9,999 (DAgger 5,000+), the demo's recipe and the first benchmark were tuned on
10,000+, so validation (tuning) roads and test roads are fresh, disjoint ranges above them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Roads no benchmark decision may be tuned on: the range used so far for evaluation and
#: for choosing the demo's recipe (``conf/eval/default.yaml`` seed 10,000 upwards).
TUNED_ROADS = range(10_000, 20_000)


class StaleResultError(ValueError):
    """A stored result was produced by another config or code version (refused; a
    ``ValueError`` so the command prints one ``error: ...`` line and exits with status 2)."""


@dataclass(frozen=True, kw_only=True)
class RoadRanges:
    """Road seed ranges of the benchmark (``benchmark.roads`` in ``conf/benchmark.yaml``).

    Attributes:
        test_start, test_count: The test set: roads nothing was tuned on; only the final
            evaluation drives them.
        val_start, val_count: Validation roads, for every tuning decision (learning rate,
            task calibration, early stopping in closed loop).
    """

    test_start: int = 200_000
    test_count: int = 100
    val_start: int = 100_000
    val_count: int = 100

    def __post_init__(self) -> None:
        for name in ("test_start", "test_count", "val_start", "val_count"):
            if getattr(self, name) < (1 if name.endswith("count") else 0):
                raise ValueError(
                    f"benchmark.roads.{name} must be positive, got {getattr(self, name)}"
                )
        test, val = self.test, self.validation
        if set(test) & set(val):
            raise ValueError(
                f"benchmark.roads: test roads {test.start}-{test.stop - 1} overlap validation "
                f"roads {val.start}-{val.stop - 1}"
            )
        for name, r in (("test", test), ("validation", val)):
            if r.start < TUNED_ROADS.stop and TUNED_ROADS.start < r.stop:
                raise ValueError(
                    f"benchmark.roads: {name} roads {r.start}-{r.stop - 1} overlap "
                    f"{TUNED_ROADS.start}-{TUNED_ROADS.stop - 1}, which recipes were tuned on"
                )
            if r.start < 10_000:
                raise ValueError(
                    f"benchmark.roads: {name} roads start at {r.start}, inside the training "
                    "collection range 0-9,999"
                )

    @property
    def test(self) -> range:
        return range(self.test_start, self.test_start + self.test_count)

    @property
    def validation(self) -> range:
        return range(self.val_start, self.val_start + self.val_count)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces; tuples as lists; floats by repr)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_default)


def _default(o: Any) -> Any:
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"config value of type {type(o).__name__} is not JSON-serialisable: {o!r}")


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex, 16 characters) of the canonical JSON of ``config``."""
    return hashlib.sha256(canonical_json(dict(config)).encode()).hexdigest()[:16]


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def imported_sources(
    root: str | os.PathLike, package: str = "lnn_drive", *, exclude: Sequence[str] = ()
) -> list[Path]:
    """Source files of the modules of ``package`` imported now (``sys.modules`` entries
    whose ``__file__`` lies inside ``root/package``, except the modules named in
    ``exclude``), sorted."""
    pkg = (Path(root) / package).resolve()
    files = set()
    for name, mod in list(sys.modules.items()):
        if name in exclude:
            continue
        f = getattr(mod, "__file__", None)
        if f and Path(f).resolve().is_relative_to(pkg) and Path(f).is_file():
            files.add(Path(f).resolve())
    return sorted(files)


def code_version(
    root: str | os.PathLike | None = None,
    *,
    conf_files: Sequence[str | os.PathLike] | None = None,
    exclude: Sequence[str] = (),
) -> dict[str, Any]:
    """The code that produces results: ``{"code": id, "commit": HEAD, "dirty": bool}``.

    ``code`` hashes the sorted relative paths and contents of the source files of the
    ``lnn_drive`` modules imported at call time (:func:`imported_sources`), plus the
    ``conf/`` files the composed config came from (``conf_files``; when not known, every
    file under ``conf/``). A change to a module the run never imported (a drone fix for a
    car benchmark) leaves it unchanged; a change to an imported one changes it, except to
    the modules named in ``exclude`` (presentation only: report tables and plots). ``-dirty``
    is appended when any hashed file has uncommitted changes. Outside a git checkout
    ``code`` is ``"unknown"``, and results with an unknown code version are never reused.
    """
    if root is None:
        from lnn_drive import PROJECT_ROOT

        root = PROJECT_ROOT
    root = Path(root).resolve()
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return {"code": "unknown", "commit": None, "dirty": None}
    if conf_files is None:
        conf = root / "conf"
        listed = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "conf")
        conf_files = [root / n for n in (listed or "").splitlines()] if conf.is_dir() else []
    files = imported_sources(root, exclude=exclude) + [Path(f).resolve() for f in conf_files]
    rel = sorted({f.relative_to(root).as_posix() for f in files if f.is_file()})
    h = hashlib.sha256()
    for name in rel:
        data = (root / name).read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode() + data)
    dirty = False
    if rel:
        changed = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *rel)
        dirty = bool(changed)
    return {
        "code": h.hexdigest()[:16] + ("-dirty" if dirty else ""),
        "commit": head,
        "dirty": dirty,
    }


def parse_shard(spec: str | None) -> tuple[int, int]:
    """``"i/n"`` (1 <= i <= n) -> ``(i, n)``; ``None``/empty -> ``(1, 1)``."""
    if spec in (None, "", "1/1"):
        return 1, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(spec))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"benchmark.shard must be i/n with 1 <= i <= n (e.g. 2/4), got {spec!r}")
    return int(m.group(1)), int(m.group(2))


def shard_items(items: Sequence[Any], shard: str | tuple[int, int] | None) -> list[Any]:
    """The items of shard ``i/n``: sorted by canonical JSON, then every n-th from i-1.

    The split depends only on the items, not on their order or the machine, and the n
    shards partition the items exactly."""
    i, n = parse_shard(shard) if not isinstance(shard, tuple) else shard
    ordered = sorted(items, key=canonical_json)
    return ordered[i - 1 :: n]


@dataclass(frozen=True, kw_only=True)
class ResultKey:
    """Identity of one stored result."""

    model: str
    seed: int
    condition: str
    config_hash: str
    code: str

    @property
    def filename(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9.+-]+", "_", f"{self.model}__seed{self.seed}__{self.condition}")
        return f"{slug}.json"


class ResultStore:
    """Result JSONs under ``root`` (e.g. ``docs/results/<benchmark name>``), one per key.

    Args:
        root: Folder of the JSON files.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def path(self, key: ResultKey) -> Path:
        return self.root / key.filename

    def load(self, key: ResultKey) -> dict[str, Any] | None:
        """The stored result of ``key``, or ``None`` if there is none.

        Raises:
            StaleResultError: a result exists for this (model, seed, condition) but was
                made by another config or code version, or by an unknown code version.
        """
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            doc = json.loads(p.read_text())
            prov = doc["provenance"]
        except (ValueError, KeyError, TypeError) as e:
            raise StaleResultError(f"{p}: not a result file with provenance ({e})") from e
        problems = []
        if prov.get("config_hash") != key.config_hash:
            problems.append(f"config hash {prov.get('config_hash')} != {key.config_hash}")
        if prov.get("code") != key.code or key.code == "unknown":
            problems.append(f"code version {prov.get('code')} != {key.code}")
        if problems:
            raise StaleResultError(
                f"{p}: stale result refused ({'; '.join(problems)}); delete it or run with "
                "benchmark.rerun_stale=true to recompute"
            )
        return doc["result"]

    def save(
        self,
        key: ResultKey,
        result: Mapping[str, Any],
        *,
        config: Mapping[str, Any],
        commit: str | None = None,
    ) -> Path:
        """Write ``result`` with its provenance (atomically: temp file + rename)."""
        if config_hash(config) != key.config_hash:
            raise ValueError("ResultStore.save: the config does not hash to key.config_hash")
        doc = {
            "provenance": {
                "model": key.model,
                "seed": key.seed,
                "condition": key.condition,
                "config_hash": key.config_hash,
                "code": key.code,
                "commit": commit,
                "config": dict(config),
            },
            "result": dict(result),
        }
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=_default) + "\n")
        tmp.replace(p)
        return p


__all__ = [
    "TUNED_ROADS",
    "ResultKey",
    "ResultStore",
    "RoadRanges",
    "StaleResultError",
    "canonical_json",
    "code_version",
    "imported_sources",
    "config_hash",
    "parse_shard",
    "shard_items",
]
