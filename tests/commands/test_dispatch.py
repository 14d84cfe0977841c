"""The dispatcher: every user mistake, Hydra's own included, is one ``error:`` line and
exit status 2, in-process; commands compose, print their config and run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lnn_drive.commands import COMMANDS, load_command, main
from lnn_drive.data import Preprocess
from lnn_drive.models import Policy
from lnn_drive.models.config import ModelConfig
from lnn_drive.train.checkpoint import save_checkpoint


def _ckpt(tmp_path: Path, name: str = "ok.pt", **changes) -> Path:
    torch.manual_seed(0)
    p = Policy(model_cfg=ModelConfig(), preprocess=Preprocess(), output_names=["steering"])
    path = save_checkpoint(tmp_path / name, policy=p)
    if changes:
        ck = torch.load(path, weights_only=True)
        for dotted, value in changes.items():
            node = ck
            *parents, last = dotted.split("/")
            for k in parents:
                node = node[k]
            node[last] = value(node[last]) if callable(value) else value
        torch.save(ck, path)
    return path


def _nan(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[0] = float("nan")
    return t


def _lstm_controller(c: dict) -> dict:
    return {**c, "type": "lstm"}  # NCP arguments under another model type


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def _pickle(tmp_path: Path) -> Path:
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "policy": _Evil(), "model_state": {}}, path)
    return path


#: (argv after the command's run-dir overrides, fragment the error line must hold)
BAD = [
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["train", "model=doesnotexist"], "Could not find 'model/doesnotexist'"),
    (["train", "eval=nope"], "eval"),
    (["train", "nosuchkey=1"], "Could not override 'nosuchkey'"),
    (["train", "data.roots=[unclosed"], "data.roots=[unclosed"),
    (["train", "train.lr=-1"], "train.lr"),
    (["train", "train.bogus=1"], "Could not override 'train.bogus'"),
    (["train", "train.max_steps=abc"], "train.max_steps: expected int, got 'abc'"),
    (["train", "data.window=[1]"], "data.window: expected int"),
    (["train", "data.augment.noise_std=loud"], "data.augment.noise_std: expected float"),
    (["evaluate", "checkpoint=x", "eval.num_envs=two"], "eval.num_envs: expected int"),
    (["collect", "out=OUT", "episodes=1.5"], "episodes: expected int"),
    (["collect", "out=OUT", "env.fps=fast"], "env.fps: expected float"),
    (["evaluate"], "missing required option(s): checkpoint"),
    (["evaluate", "checkpoint=/nonexistent/best.pt"], "/nonexistent/best.pt"),
    (["saliency"], "missing required option(s): checkpoints"),
    (["saliency-seeds"], "give exactly one of models="),
    (["saliency-seeds", "benchmark_dir=/nonexistent"], "benchmark_dir: no such folder"),
    (["saliency-seeds", "models={a: []}"], "models.a: no checkpoints"),
    (["saliency-seeds", "models={a: [x]}", "seeds.noise_scale=db"], "seeds.noise_scale"),
    (["saliency-seeds", "models={a: [/nonexistent/best.pt]}"], "/nonexistent/best.pt"),
    (["export"], "missing required option(s): checkpoint"),
    (["export", "checkpoint=/nonexistent/best.pt"], "/nonexistent/best.pt"),
    (["export", "checkpoint=x", "opset=5"], "opset"),
    (["export", "checkpoint=x", "calibration_frames=0"], "calibration_frames"),
    (["evaluate", "checkpoint=/nonexistent/m.onnx"], "/nonexistent/m.onnx"),
    (["collect"], "missing required option(s): out"),
    (["collect", "out=OUT", "presets=[mars]"], "unknown preset 'mars'"),
    (["collect", "out=OUT", "env.speed=-3"], "env.speed"),
    (["import-udacity"], "missing required option(s): log_dir"),
    (["import-video", "video=/no/v.mp4"], "missing required option(s): controls"),
    (["model-summary", "models=[nope]"], "unknown model 'nope'"),
    (["export-lerobot"], "missing required option(s): root"),
    (["export-lerobot", "root=/no/such", "out=OUT"], "/no/such/dataset.json: not found"),
    (["export-lerobot", "root=data/sample", "out=OUT", "codec=gif"], "codec must be one of"),
    (["import-lerobot"], "missing required option(s): root"),
    (["import-lerobot", "root=/no/such", "out=OUT"], "/no/such: no such dataset folder"),
    (["export-checkpoint"], "missing required option(s): checkpoint"),
    (["export-checkpoint", "checkpoint=/no/x.pt", "out=OUT"], "checkpoint not found: /no/x.pt"),
    (["drive", "env_id=Nope-v0", "headless=true", "out=OUT"], "'Nope-v0' is not a registered"),
    (["train", "--cfg", "everything"], "--cfg takes job, hydra or all"),
    (["benchmark", "benchmark.models=[]"], "benchmark.models is empty"),
    (["benchmark", "benchmark.models=[transformer]"], "unknown model 'transformer'"),
    (["demo", "demo.train_procs=0"], "demo.train_procs"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_user_mistakes_are_one_error_line_and_exit_2(argv, fragment, tmp_path, capsys) -> None:
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    extra = [f"hydra.run.dir={tmp_path}/run"] if argv[0] in COMMANDS else []
    assert main([*argv[:1], *extra, *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert fragment in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


CKPT = [
    (lambda d: _ckpt(d, **{"model_state/controller.out_bias": _nan}), "holds 1 NaN/inf"),
    (lambda d: _ckpt(d, **{"policy/model/controller": _lstm_controller}), "policy.model"),
    (lambda d: _ckpt(d, format=99), "checkpoint format 99"),
    (_pickle, "will not be unpickled"),
]


@pytest.mark.parametrize(("make", "fragment"), CKPT, ids=["nan", "model-type", "format", "pickle"])
def test_bad_checkpoints_are_refused_at_load_naming_the_file(
    make, fragment, tmp_path, capsys
) -> None:
    path = make(tmp_path)
    rc = main(["evaluate", f"hydra.run.dir={tmp_path}/run", f"checkpoint={path}"])
    out = capsys.readouterr()
    assert rc == 2 and out.err.count("\n") == 1 and fragment in out.err, out.err
    assert str(path) in out.err
    assert "weights_only=False" not in out.err and "pwned" not in out.out


def test_every_command_prints_its_config(capsys) -> None:
    for name in COMMANDS:
        module = load_command(name)
        required = {"evaluate": ["checkpoint=x"], "saliency": ["checkpoints=[x]"]}
        required |= {"collect": ["out=x"], "import-udacity": ["log_dir=x"]}
        required |= {"export": ["checkpoint=x"]}
        required |= {"import-video": ["video=x", "controls=y"]}
        required |= {"collect-drone": ["out=x"], "import-drone": ["log_dir=x"]}
        required |= {"eval-drone": ["checkpoint=x"]}
        required |= {"carracing-collect": ["out=x"], "carracing-evaluate": ["checkpoint=x"]}
        required |= {"export-lerobot": ["root=x"], "import-lerobot": ["root=x"]}
        required |= {"export-checkpoint": ["checkpoint=x"]}
        required |= {"benchmark-report": ["results=x"], "benchmark-drone-report": ["results=x"]}
        assert main([name, "--cfg", "job", *required.get(name, [])]) == 0, name
        assert "paths:" in capsys.readouterr().out
        assert module.CONFIG and callable(module.run)


def test_usage_and_help(capsys) -> None:
    assert main([]) == 2
    assert main(["--help"]) == 0
    assert "import-udacity" in capsys.readouterr().out
    assert main(["train", "--help"]) == 0
    assert "conf/train.yaml" in capsys.readouterr().out


def test_model_summary(capsys) -> None:
    assert main(["model-summary", "models=[ncp_ltc,lstm]", "hydra.run.dir=/tmp/x"]) == 0
    table = capsys.readouterr().out
    assert "| ncp_ltc | 79,420 | 19 | 252 | 1,131 | 3,999 | 1,065 |" in table
    assert "24,897" in table
