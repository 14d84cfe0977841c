"""Provenance: results keyed by config hash and code version; stale ones refused; shards."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from lnn_drive.eval.provenance import (
    ResultKey,
    ResultStore,
    RoadRanges,
    StaleResultError,
    code_version,
    config_hash,
    parse_shard,
    shard_items,
)

CFG = {"model": "ncp_cfc", "seed": 1, "train": {"lr": 0.005}, "roads": [200000, 200001]}


def key(cfg=CFG, code="abc", condition="clean") -> ResultKey:
    return ResultKey(
        model="ncp_cfc", seed=1, condition=condition, config_hash=config_hash(cfg), code=code
    )


def test_config_hash_is_canonical_and_sensitive() -> None:
    assert config_hash(CFG) == config_hash(dict(reversed(list(CFG.items()))))
    assert config_hash(CFG) != config_hash({**CFG, "train": {"lr": 0.0051}})
    assert config_hash({"a": (1, 2)}) == config_hash({"a": [1, 2]})


def test_fresh_result_is_reused_and_stale_is_refused(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results")
    assert store.load(key()) is None
    p = store.save(key(), {"interventions": 3, "km": 20.0}, config=CFG, commit="deadbeef")
    assert p.parent == tmp_path / "results" and not list(p.parent.glob(".*.tmp"))
    assert store.load(key()) == {"interventions": 3, "km": 20.0}
    # another config (the learning rate changed) -> refused, not reused
    with pytest.raises(StaleResultError, match="config hash"):
        store.load(key({**CFG, "train": {"lr": 0.001}}))
    # another code version -> refused
    with pytest.raises(StaleResultError, match="code version"):
        store.load(key(code="abd"))
    # a result whose code version is unknown can never be validated
    store.save(key(code="unknown", condition="fog"), {"x": 1}, config=CFG)
    with pytest.raises(StaleResultError):
        store.load(key(code="unknown", condition="fog"))
    with pytest.raises(ValueError, match="hash"):
        store.save(key(), {}, config={**CFG, "seed": 2})


def _repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """A git checkout with ``lnn_drive/{a,b}.py`` and ``conf/c.yaml``; only ``a`` imported."""

    def git(*a: str) -> None:
        subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@t")
    git("config", "user.name", "t")
    for d in ("lnn_drive", "conf", "docs"):
        (tmp_path / d).mkdir()
    (tmp_path / "lnn_drive" / "a.py").write_text("x = 1\n")
    (tmp_path / "lnn_drive" / "b.py").write_text("y = 1\n")
    (tmp_path / "conf" / "c.yaml").write_text("a: 1\n")
    git("add", "-A")
    git("commit", "-qm", "one")
    mod = types.ModuleType("_prov_test_a")
    mod.__file__ = str(tmp_path / "lnn_drive" / "a.py")
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    return git


def test_code_version_tracks_the_code_not_the_docs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = _repo(tmp_path, monkeypatch)
    v1 = code_version(tmp_path)
    assert not v1["dirty"] and len(v1["code"]) == 16
    (tmp_path / "docs" / "r.json").write_text("{}")
    git("add", "-A")
    git("commit", "-qm", "results")
    assert code_version(tmp_path)["code"] == v1["code"]  # committing results changes nothing
    (tmp_path / "lnn_drive" / "a.py").write_text("x = 2\n")
    v2 = code_version(tmp_path)
    assert v2["dirty"] and v2["code"].endswith("-dirty") and v2["code"] != v1["code"]
    git("commit", "-qam", "code")
    v3 = code_version(tmp_path)
    assert v3["code"] not in (v1["code"], v2["code"])
    assert code_version(tmp_path / "lnn_drive" / "..")["code"] == v3["code"]
    (tmp_path / "conf" / "c.yaml").write_text("a: 2\n")  # conf/ unknown: all of it counts
    assert code_version(tmp_path)["code"] != v3["code"]


def test_only_imported_modules_and_used_conf_files_make_a_result_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = _repo(tmp_path, monkeypatch)
    store = ResultStore(tmp_path / "results")
    v1 = code_version(tmp_path)
    store.save(key(code=v1["code"]), {"x": 1}, config=CFG)
    (tmp_path / "lnn_drive" / "b.py").write_text("y = 2\n")  # never imported
    (tmp_path / "lnn_drive" / "new.py").write_text("z = 1\n")
    git("add", "-A")
    git("commit", "-qm", "unrelated fix")
    v2 = code_version(tmp_path)
    assert v2 == {**v1, "commit": v2["commit"]} and v2["commit"] != v1["commit"]
    assert store.load(key(code=v2["code"])) == {"x": 1}  # still fresh
    (tmp_path / "lnn_drive" / "a.py").write_text("x = 2\n")  # imported
    git("commit", "-qam", "related fix")
    v3 = code_version(tmp_path)
    assert v3["code"] != v1["code"]
    with pytest.raises(StaleResultError, match="code version"):
        store.load(key(code=v3["code"]))
    used = [tmp_path / "conf" / "c.yaml"]
    v4 = code_version(tmp_path, conf_files=used)
    (tmp_path / "conf" / "other.yaml").write_text("b: 1\n")  # a conf file the run did not use
    assert code_version(tmp_path, conf_files=used)["code"] == v4["code"]
    assert code_version(tmp_path)["code"] != v4["code"]
    (tmp_path / "conf" / "c.yaml").write_text("a: 2\n")
    assert code_version(tmp_path, conf_files=used)["code"] != v4["code"]


def test_shards_partition_the_work_deterministically() -> None:
    items = [{"model": m, "seed": s} for m in ("ncp_cfc", "lstm", "feedforward") for s in range(5)]
    shards = [shard_items(items, f"{i}/4") for i in range(1, 5)]
    flat = [canon for sh in shards for canon in sh]
    assert sorted(map(str, flat)) == sorted(map(str, items))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert shard_items(list(reversed(items)), "2/4") == shards[1]
    assert shard_items(items, None) == shard_items(items, "1/1")
    assert parse_shard("3/4") == (3, 4)
    for bad in ("0/4", "5/4", "1-4", "a/b"):
        with pytest.raises(ValueError, match="benchmark.shard"):
            parse_shard(bad)


def test_road_ranges_are_disjoint_and_untuned() -> None:
    r = RoadRanges()
    assert len(r.test) >= 60 and not set(r.test) & set(r.validation)
    with pytest.raises(ValueError, match="tuned"):
        RoadRanges(test_start=10_000)
    with pytest.raises(ValueError, match="overlap validation"):
        RoadRanges(test_start=100_050)
    with pytest.raises(ValueError, match="training"):
        RoadRanges(val_start=500, val_count=10)


def test_benchmark_options_from_the_command_line() -> None:
    from lnn_drive.commands.config import compose, to_dataclass
    from lnn_drive.eval.benchmark import BenchmarkConfig

    job = compose(
        "benchmark",
        [
            "hydra.run.dir=/tmp/unused",
            "benchmark.shard=2/3",
            "benchmark.roads.test_start=300000",
            "benchmark.rerun_stale=true",
        ],
    )[0]
    b = to_dataclass(BenchmarkConfig, job.benchmark, where="benchmark.")
    assert b.shard == "2/3" and b.rerun_stale
    assert isinstance(b.roads, RoadRanges) and b.roads.test.start == 300000
    with pytest.raises(ValueError, match="benchmark.shard"):
        BenchmarkConfig(shard="4/3")
    with pytest.raises(ValueError, match="tuned"):
        BenchmarkConfig(roads={"test_start": 10_500})


def test_benchmark_run_reuses_fresh_results_and_refuses_stale_ones(tmp_path: Path) -> None:
    import dataclasses

    from lnn_drive.data import DataConfig
    from lnn_drive.envs.collect import CollectConfig
    from lnn_drive.envs.config import EnvConfig
    from lnn_drive.eval.benchmark import BenchmarkRecipe, run_one
    from lnn_drive.eval.evaluate import EvalConfig
    from lnn_drive.models.config import ModelConfig
    from lnn_drive.train import TrainConfig
    from lnn_drive.train.checkpoint import save_checkpoint
    from lnn_drive.train.dagger import DaggerConfig
    from tests.models.test_models import make_policy

    calls = []

    def train_fn(tc, *, data, model, run_dir):  # stands in for training: a fixed checkpoint
        calls.append(tc.lr)
        path = save_checkpoint(Path(run_dir) / "best.pt", policy=make_policy("ncp_cfc"))
        return {"best_checkpoint": str(path), "val_loss": 0.5, "steps": 1}

    recipe = BenchmarkRecipe(
        models={"ncp_cfc": ModelConfig()},
        train=TrainConfig(),
        data=DataConfig(),
        dagger=DaggerConfig(),
        collect=CollectConfig(out=str(tmp_path / "logs")),
        env=EnvConfig(),
        eval=EvalConfig(
            distance_km=0.01, drive_steps=5, actor="eager", video=False, progress=False
        ),
    )
    store = ResultStore(tmp_path / "results")
    kw = dict(model="ncp_cfc", seed=0, data_root=str(tmp_path), out=tmp_path, store=store)
    first = run_one(recipe=recipe, train_fn=train_fn, **kw)
    assert len(calls) == 1 and len(list(store.root.glob("*.json"))) == 1
    again = run_one(recipe=recipe, train_fn=train_fn, **kw)
    assert len(calls) == 1 and again["metrics"] == first["metrics"]  # fresh: reused
    changed = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, lr=1e-4))
    with pytest.raises(StaleResultError, match="stale result refused"):
        run_one(recipe=changed, train_fn=train_fn, **kw)
    assert len(calls) == 1  # refused, not reused, nothing trained
    run_one(recipe=changed, train_fn=train_fn, rerun_stale=True, **kw)
    assert calls == [recipe.train.lr, 1e-4]
    assert run_one(recipe=changed, train_fn=train_fn, **kw)["val_loss"] == 0.5


def test_presentation_modules_and_conf_are_left_out_of_the_benchmark_code_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark passes ``conf_files=()`` and its report modules as ``exclude``: a
    better report or an unrelated YAML keeps results fresh, a change to run code does not."""
    _repo(tmp_path, monkeypatch)
    rep = types.ModuleType("_prov_test_report")
    rep.__file__ = str(tmp_path / "lnn_drive" / "b.py")
    monkeypatch.setitem(sys.modules, rep.__name__, rep)
    args = {"conf_files": (), "exclude": ("_prov_test_report",)}
    v1 = code_version(tmp_path, **args)
    (tmp_path / "lnn_drive" / "b.py").write_text("y = 2\n")  # the report module
    (tmp_path / "conf" / "c.yaml").write_text("a: 2\n")
    assert code_version(tmp_path, **args)["code"] == v1["code"]
    assert code_version(tmp_path, conf_files=())["code"] != v1["code"]  # b counts unexcluded
    (tmp_path / "lnn_drive" / "a.py").write_text("x = 2\n")  # run code
    assert code_version(tmp_path, **args)["code"] != v1["code"]


def test_benchmark_code_version_excludes_the_report_but_not_the_run_code() -> None:
    import lnn_drive.eval.benchmark_report  # noqa: F401  (imported, still left out)
    from lnn_drive.eval.benchmark import PRESENTATION_MODULES
    from lnn_drive.eval.provenance import imported_sources

    root = Path(__file__).resolve().parents[2]
    import lnn_drive.envs.lane_keeping  # noqa: F401
    import lnn_drive.eval.batched  # noqa: F401
    import lnn_drive.train.bc  # noqa: F401

    kept = {
        p.relative_to(root / "lnn_drive").as_posix()
        for p in imported_sources(root, exclude=PRESENTATION_MODULES)
    }
    # By path: lnn_drive/commands/benchmark_report.py (the CLI command) is another file.
    assert "eval/benchmark_report.py" not in kept and "eval/paper_tables.py" not in kept
    assert {"eval/benchmark.py", "train/bc.py", "eval/batched.py"} <= kept
    assert "envs/lane_keeping.py" in kept


def test_data_key_ignores_where_and_when_the_logs_were_written(tmp_path: Path) -> None:
    """A benchmark resumed on a new machine re-collects its logs (other paths, another
    ``created`` time): the hashed data key must not change; other labels must."""
    import json

    from lnn_drive.data.dataset import DataConfig
    from lnn_drive.eval.benchmark import _data_key

    def logs(root: Path, created: str, steering: str) -> str:
        (root / "episodes" / "ep_00000").mkdir(parents=True)
        meta = {"format": "lnn_drive.log", "created": created, "episodes": [{"name": "ep_00000"}]}
        (root / "dataset.json").write_text(json.dumps(meta))
        (root / "episodes" / "ep_00000" / "episode.json").write_text("{}")
        (root / "episodes" / "ep_00000" / "signals.csv").write_text(f"steering\n{steering}\n")
        return str(root)

    a = logs(tmp_path / "a", "2026-12-04T04:20:00+0000", "0.01")
    b = logs(tmp_path / "b", "2026-12-04T14:48:00+0000", "0.01")
    c = logs(tmp_path / "c", "2026-12-04T14:48:00+0000", "0.02")
    key = {r: _data_key(DataConfig(roots=(r,), cache_dir=f"{r}/cache"), r) for r in (a, b, c)}
    assert config_hash(key[a]) == config_hash(key[b])
    assert key[a]["identity"] != key[c]["identity"]
    assert "roots" not in key[a] and "cache_dir" not in key[a]


def test_run_code_version_does_not_depend_on_what_this_process_imported() -> None:
    """A resumed run (a fresh process, other entry point) takes the same code version as
    the process that wrote the results, whatever either had imported lazily before."""
    import importlib

    from lnn_drive.eval.benchmark import _clean_code_version, run_code_version

    _clean_code_version.cache_clear()
    before = run_code_version()
    importlib.import_module("lnn_drive.commands.demo_carracing")  # not a run module
    importlib.import_module("lnn_drive.models.inference")  # a run module, imported lazily
    _clean_code_version.cache_clear()
    assert run_code_version() == before
    assert before["code"] != "unknown" and before["commit"]
