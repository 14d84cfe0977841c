"""ONNX export: every controller type, fp32 parity over a carried-state sequence, int8,
the torch-free runtime, the export command's errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lnn_drive import PROJECT_ROOT
from lnn_drive.deploy.export import (
    export_policy,
    max_onnx_error,
    quantize_int8,
    standardise_layer_norm,
)
from lnn_drive.deploy.runtime import META_POLICY, OnnxPolicy
from lnn_drive.models import CONTROLLERS
from tests.deploy.conftest import H, W, frame_sequence, small_policy


@pytest.mark.parametrize("name", sorted(CONTROLLERS))
def test_fp32_parity_over_a_carried_state_sequence(name: str, exported) -> None:
    policy, path = exported[name]
    frames = frame_sequence(60)
    err = max_onnx_error(policy, path, frames)
    assert err <= 1e-5, f"{name}: max |onnx - torch| = {err:.3g}"
    # the actions are not trivially small, so the bound means something
    with torch.no_grad():
        ref, _ = policy(torch.from_numpy(frames)[None])
    assert float(ref.abs().max()) > 0.05


def test_layer_norm_standardisation_matches_training() -> None:
    """The exported graph's one-node standardisation equals ``Preprocess.standardise`` to
    the documented relative 1/(2 n var) on camera-like frames and on a nearly uniform one,
    and exactly on a uniform frame (both 0)."""
    from lnn_drive.data import Preprocess

    frames = torch.from_numpy(frame_sequence(4))  # (4, 3, H, W)
    low = torch.from_numpy(  # pixel std 0.8 grey levels: the bound is loosest here
        np.random.default_rng(0).integers(99, 102, (1, 3, H, W), dtype=np.uint8)
    )
    n = 3 * H * W
    for x in (frames, low):
        ref, ours = Preprocess.standardise(x), standardise_layer_norm(x)
        assert ours.dtype == torch.float32 and ours.shape == x.shape
        var = x.float().reshape(len(x), -1).var(dim=1, unbiased=False)  # (B,)
        rel = (1.0 / (2 * n * var))[:, None, None, None]  # (B, 1, 1, 1)
        excess = (ours - ref).abs() - rel * ref.abs()  # beyond the formula's difference
        assert float(excess.max()) <= 2e-5  # float32 rounding of the two reductions
    # the two formulas do differ where the pixels barely vary (the bound means something)
    assert float((standardise_layer_norm(low) - Preprocess.standardise(low)).abs().max()) > 1e-5
    flat = torch.full((1, 3, H, W), 117, dtype=torch.uint8)
    assert float(standardise_layer_norm(flat).abs().max()) == 0.0
    assert float(Preprocess.standardise(flat).abs().max()) == 0.0


def test_graph_uses_fused_standardisation_and_matmul(exported) -> None:
    import onnx

    _, path = exported["ncp_cfc"]
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("LayerNormalization") == 1
    assert "Einsum" not in ops and "ReduceMean" not in ops and "MatMul" in ops


@pytest.mark.parametrize("name", ["ncp_ltc", "lstm", "feedforward"])
def test_dynamic_batch_and_reset_rows(name: str, exported) -> None:
    policy, path = exported[name]
    from lnn_drive.protocols import InspectablePolicy, PolicyProtocol

    rt = OnnxPolicy(path)
    assert isinstance(rt, PolicyProtocol) and not isinstance(rt, InspectablePolicy)
    assert rt.state_size == policy.state_size and rt.precision == "fp32"
    seq = frame_sequence(9).reshape(3, 3, 3, H, W)  # (T, B, 3, H, W)
    raw = seq.transpose(0, 1, 3, 4, 2).copy()  # (T, B, H, W, 3) camera frames
    rt.reset(3)
    policy.reset(3)
    for t in range(3):
        if t == 2:
            rt.reset_rows(np.array([True, False, False]))
            policy.reset_rows(np.array([True, False, False]))
        a, b = rt.act_batch(raw[t]), policy.act_batch(raw[t])
        assert a.shape == (3, 1)
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(rt.neuron_state(), policy.neuron_state(), atol=1e-5)
    with pytest.raises(ValueError, match="reset\\(batch_size=2\\)"):
        rt.act_batch(raw[0, :2])
    with pytest.raises(ValueError, match="bool mask"):
        rt.reset_rows(np.array([1, 0, 0]))
    with pytest.raises(ValueError, match="size"):
        rt.act(np.zeros((H + 1, W, 3), np.uint8))


def test_metadata_declares_geometry_and_config(exported) -> None:
    policy, path = exported["ncp_cfc"]
    rt = OnnxPolicy(path)
    cfg = json.loads(rt.metadata[META_POLICY])
    assert cfg == json.loads(json.dumps(policy.config()))
    assert rt.preprocess.output_shape == policy.preprocess.output_shape
    assert rt.output_names == ["steering"] and rt.units == {"steering": "1/m"}
    names = [i.name for i in rt.session.get_inputs()]
    assert names == ["frames", "state"]
    assert rt.session.get_inputs()[0].type == "tensor(uint8)"
    assert rt.session.get_inputs()[0].shape[1:] == [H, W, 3]  # channel-last (format 2)
    assert rt.preprocess.graph_shape == (H, W, 3)


def test_step_takes_graph_layout_frames_and_act_feeds_model_size_frames_as_they_are(
    exported,
) -> None:
    """``step`` takes channel-last model-geometry frames (and says so for anything else);
    ``act`` on a model-size frame hands that very array to onnxruntime (no copy)."""
    from lnn_drive.deploy.export import chw_to_hwc

    policy, path = exported["gru"]
    rt = OnnxPolicy(path)
    chw = frame_sequence(5)  # (5, 3, H, W)
    hwc = chw_to_hwc(chw)  # (5, H, W, 3)
    rt.reset(1)
    a = np.concatenate([rt.step(f[None]) for f in hwc])
    rt.reset(1)
    b = np.stack([rt.act(f) for f in hwc])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(
        ValueError, match=f"OnnxPolicy.step: expected uint8 frames \\(B, {H}, {W}, 3\\)"
    ):
        rt.step(chw[:1])
    with pytest.raises(ValueError, match="OnnxPolicy.step: expected uint8"):
        rt.step(hwc[:1].astype(np.float32))
    seen = []
    run = rt._run
    rt._run = lambda names, feeds: seen.append(feeds["frames"]) or run(names, feeds)
    rt.reset(1)
    rt.act(hwc[0])
    assert np.shares_memory(seen[0], hwc[0])


def test_int8_tracks_fp32(tmp_path: Path, exported) -> None:
    """Static int8 (convolutions) on an untrained NCP-LTC whose outputs have a unit scale
    (target std 1; actions about 0.1-0.5): within 1e-2 over a 60-frame carried sequence."""
    policy, path = exported["ncp_ltc"]
    frames = frame_sequence(60, seed=1)
    q = quantize_int8(path, tmp_path / "q.onnx", frames[:32])
    rt = OnnxPolicy(q)
    assert rt.precision == "int8"
    ops = {n.op_type for n in __import__("onnx").load(str(q)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    err = max_onnx_error(policy, q, frames)
    assert 0 < err <= 1e-2, err
    with pytest.raises(ValueError, match="calibration"):
        quantize_int8(path, tmp_path / "bad.onnx", frames[:, :, :10])
    assert not (tmp_path / "bad.onnx").exists()


def test_runtime_imports_without_torch(tmp_path: Path, exported) -> None:
    policy, path = exported["ncp_cfc"]
    frames = frame_sequence(12).transpose(0, 2, 3, 1).copy()  # (N, H, W, 3)
    np.save(tmp_path / "frames.npy", frames)
    code = f"""
import sys
sys.modules["torch"] = None  # any import of torch now fails
import numpy as np
from lnn_drive.deploy import OnnxPolicy
p = OnnxPolicy({str(path)!r})
p.reset()
out = np.stack([p.act(f) for f in np.load({str(tmp_path / "frames.npy")!r})])
np.save({str(tmp_path / "out.npy")!r}, out)
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules if sys.modules[m])
"""
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    policy.reset()
    ref = np.stack([policy.act(f) for f in frames])
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), ref, atol=1e-5)


def test_runtime_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        OnnxPolicy(tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.onnx: not a loadable ONNX model"):
        OnnxPolicy(junk)
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(
        torch.nn.Linear(2, 1).eval(), (torch.zeros(1, 2),), str(plain), dynamo=True, verbose=False
    )
    with pytest.raises(ValueError, match="not an lnn_drive export"):
        OnnxPolicy(plain)


def test_export_is_atomic_on_failure(tmp_path: Path) -> None:
    p = small_policy("gru")
    p.controller.forward = None  # type: ignore[assignment]  # make tracing fail
    with pytest.raises(Exception, match="export"):
        export_policy(p, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_closed_loop_matches_pytorch(exported) -> None:
    """The exported model drives the same roads as the PyTorch policy, step for step
    (an untrained policy that steers hard, so there are departures to count)."""
    from lnn_drive.envs import env_fn
    from lnn_drive.eval.rollout import run_drives

    policy, path = exported["ncp_ltc"]
    fn = env_fn({}, height=H, width=W, crash_mode="intervene", max_episode_steps=120)
    kw = dict(seeds=[3, 4], num_envs=2, vector="sync", noise_variance=0.05, noise_seed=1)
    ref = run_drives(policy, fn, **kw)
    ours = run_drives(OnnxPolicy(path), fn, **kw)
    assert sum(t.interventions for t in ref) > 0
    for a, b in zip(ref, ours, strict=True):
        assert a.interventions == b.interventions
        np.testing.assert_allclose(a.command, b.command, atol=1e-5)
        np.testing.assert_allclose(a.lateral_offset, b.lateral_offset, atol=1e-4)


@pytest.mark.parametrize("interp", ["area", "linear", "nearest"])
def test_runtime_geometry_matches_preprocess(interp: str) -> None:
    from lnn_drive.data import Preprocess
    from lnn_drive.deploy.runtime import FrameGeometry

    pre = Preprocess(
        height=30,
        width=70,
        crop_top=9,
        crop_bottom=3,
        crop_left=5,
        crop_right=2,
        interpolation=interp,
    ).with_input(60, 120)
    geo = FrameGeometry.from_config(pre.to_config())
    frame = np.random.default_rng(0).integers(0, 255, (60, 120, 3), dtype=np.uint8)
    np.testing.assert_array_equal(geo.geometry(frame), pre.geometry(frame))
    assert (geo.in_height, geo.in_width) == (60, 120) and geo.output_shape == (3, 30, 70)
    with pytest.raises(ValueError, match="size 60x121"):
        geo.geometry(np.zeros((60, 121, 3), np.uint8))


def test_export_command_writes_both_models_and_reports_parity(tmp_path: Path, capsys) -> None:
    from lnn_drive.commands import main
    from lnn_drive.data import Preprocess
    from lnn_drive.models import Policy
    from lnn_drive.models.config import ModelConfig
    from lnn_drive.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    p = Policy(model_cfg=ModelConfig(), preprocess=Preprocess(), output_names=["steering"])
    ck = save_checkpoint(tmp_path / "best.pt", policy=p)
    out = tmp_path / "onnx"
    argv = ["export", f"hydra.run.dir={tmp_path}/run", f"checkpoint={ck}", f"out_dir={out}"]
    assert main([*argv, "calibration_frames=16", "check_frames=20"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["fp32", "int8"]
    assert "over 20 frames" in lines[0]
    rt = OnnxPolicy(out / f"{p.model_name}.int8.onnx")
    assert rt.precision == "int8" and "train_state" in rt.metadata["lnn_drive.checkpoint"]
    assert main([*argv, "calibration_log=/nonexistent/log"]) == 2
    assert "/nonexistent/log" in capsys.readouterr().err


def test_native_host_runs_the_export_like_the_python_runtime(exported) -> None:
    """``scripts/edge_native_host.c`` (the ORT C API, no Python), built by bench_edge:
    the same first action as ``OnnxPolicy`` on the same frame, and its memory figures."""
    import importlib.util
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    from lnn_drive.deploy.export import chw_to_hwc

    spec = importlib.util.spec_from_file_location(
        "bench_edge", PROJECT_ROOT / "scripts" / "bench_edge.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    policy, path = exported["ncp_cfc"]
    frames = chw_to_hwc(frame_sequence(3))  # (3, H, W, 3)
    out = bench.native_host(path, frames, policy.state_size, 250)
    if out is None:
        pytest.skip("no libonnxruntime.so in this onnxruntime wheel")
    rt = OnnxPolicy(path)
    rt.reset(1)
    assert out["first_action"] == pytest.approx(float(rt.step(frames[:1])[0, 0]), abs=1e-6)
    assert 0 < out["RssAnon"] < out["VmHWM"] and out["ms_per_step"] > 0


def test_runtime_refuses_a_channel_first_export(tmp_path: Path, exported) -> None:
    """A format-1 file (channel-first frames) is refused with its format named."""
    import onnx

    from lnn_drive.deploy.runtime import META_FORMAT

    _, path = exported["gru"]
    model = onnx.load(str(path))
    next(p for p in model.metadata_props if p.key == META_FORMAT).value = "1"
    old = tmp_path / "old.onnx"
    onnx.save(model, str(old))
    with pytest.raises(ValueError, match="export format 1 but this runtime reads 2"):
        OnnxPolicy(old)
