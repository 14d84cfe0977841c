"""The edge budget of an exported policy, measured in one run.

    python scripts/bench_edge.py --checkpoint outputs/train/runs/<ts>/checkpoints/best.pt
    python scripts/bench_edge.py            # untrained paper model (NCP-CfC), for latency only

Prints, at batch 1 on one thread: ms per step of eager PyTorch, FastActor fp32/int8 and
ONNX Runtime fp32/int8 (medians of interleaved rounds, with ratios to eager PyTorch measured
in the same run); the peak resident memory of a process that only runs the exported model
(torch hidden), stage by stage, next to the import floor (python + numpy + onnxruntime,
no model) and a process that runs the PyTorch policy; model bytes; multiply-accumulates
per frame; an estimate for Raspberry Pi 4/5-class CPUs (assumptions printed); the action
parity over a carried-state sequence of ``--parity-frames`` simulator frames; and the
closed-loop interventions of PyTorch, ONNX fp32 and ONNX int8 on the same roads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lnn_drive import PROJECT_ROOT  # noqa: E402

RUNTIME_FILE = PROJECT_ROOT / "lnn_drive" / "deploy" / "runtime.py"

#: Assumptions of the Raspberry Pi estimate (stated, not measured). ``gmacs``: sustained
#: single-core multiply-accumulate throughput of ONNX Runtime's MLAS kernels on these small
#: convolutions, fp32 / int8 (Pi 4: Cortex-A72 at 1.8 GHz, 2x128-bit NEON FMA = 14 GMAC/s
#: fp32 peak, no int8 dot product; Pi 5: Cortex-A76 at 2.4 GHz, 19 GMAC/s fp32 peak, SDOT
#: int8). ``slowdown``: single-thread speed of this AVX-512 server core over the Pi core on
#: small-tensor work (interpreter, element-wise ops, session overhead).
PI = {
    "Raspberry Pi 4 (Cortex-A72 1.8 GHz)": {"gmacs": (3.5, 5.0), "slowdown": 4.0},
    "Raspberry Pi 5 (Cortex-A76 2.4 GHz)": {"gmacs": (5.0, 15.0), "slowdown": 2.0},
}

# The runtime file loaded on its own, as on a device (no lnn_drive package, no torch), with
# the resident memory read after each stage. The frames are real ones from a file: drawing
# random ones would import numpy.random, which the runtime does not need (~7 MB).
_RSS_CHILD = """
import sys
sys.modules["torch"] = None
stages = {"python": _rss()}
import numpy as np
stages["numpy"] = _rss()
import onnxruntime
stages["onnxruntime"] = _rss()
import importlib.util
spec = importlib.util.spec_from_file_location("runtime", sys.argv[3])
rt = sys.modules["runtime"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rt)
stages["runtime.py"] = _rss()
if sys.argv[1] != "-":
    p = rt.OnnxPolicy(sys.argv[1])
    stages["session"] = _rss()
    frames = np.load(sys.argv[4])  # (8, h, w, 3) uint8, the graph's layout
    p.reset(1)
    for i in range(int(sys.argv[2])):
        p.step(frames[i % 8][None])
    stages["steps"] = _rss()
stages.update(_status("VmHWM", "RssAnon", "RssFile"))
print(json.dumps(stages))
"""

_RSS_TORCH_CHILD = """
import sys
import numpy as np, torch
torch.set_num_threads(1)
from lnn_drive.models import Policy
p = Policy.load(sys.argv[1]).eval()
x = torch.from_numpy(np.load(sys.argv[4])[:1, None]).permute(0, 1, 4, 2, 3)  # (1, 1, 3, h, w)
hx = None
with torch.inference_mode():
    for i in range(int(sys.argv[2])):
        _, hx = p(x, hx)
print(json.dumps(_status("VmHWM", "RssAnon", "RssFile")))
"""

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the (large) parent.
_HWM = """
import json
def _status(*keys):
    out = {}
    for line in open("/proc/self/status"):
        k = line.split(":")[0]
        if k in keys:
            out[k] = int(line.split()[1])
    return out
def _rss():
    return _status("VmRSS")["VmRSS"]
"""


def child_memory(code: str, path: Path | str, steps: int, frames: Path) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter; its memory figures (KiB) in MiB."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-c", _HWM + code, str(path), str(steps), str(RUNTIME_FILE), str(frames)],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        check=False,
    )
    if r.returncode != 0:
        raise RuntimeError(f"RSS child failed: {r.stderr.strip()[-500:]}")
    return {k: v / 1024.0 for k, v in json.loads(r.stdout.split("\n")[-2]).items()}


NATIVE_HOST = PROJECT_ROOT / "scripts" / "edge_native_host.c"


def native_host(model: Path, frames_hwc: np.ndarray, state_size: int, steps: int) -> dict | None:
    """Build ``scripts/edge_native_host.c`` against the onnxruntime wheel's own
    ``libonnxruntime.so`` and run ``model`` in it (no Python): its JSON line, memory in
    MiB; ``None`` without a C compiler or that library."""
    import glob
    import shutil

    import onnxruntime

    cc = shutil.which("cc") or shutil.which("gcc")
    libs = sorted(glob.glob(str(Path(onnxruntime.__file__).parent / "capi" / "libonnxruntime.so*")))
    if cc is None or not libs:
        return None
    d = Path(tempfile.mkdtemp(prefix="edge_native_"))
    try:
        (d / "libonnxruntime.so.1").symlink_to(libs[0])  # the library's soname
        exe = d / "edge_native_host"
        build = [cc, "-O2", "-o", str(exe), str(NATIVE_HOST), f"-L{d}", "-l:libonnxruntime.so.1"]
        r = subprocess.run([*build, f"-Wl,-rpath,{d}"], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"building {NATIVE_HOST.name} failed: {r.stderr.strip()[-500:]}")
        raw = d / "frames.u8"
        np.ascontiguousarray(frames_hwc, np.uint8).tofile(raw)
        n, h, w, _ = frames_hwc.shape
        args = [str(exe), str(model), str(raw), str(n), str(h), str(w), str(state_size), str(steps)]
        r = subprocess.run(args, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"{exe.name} failed: {r.stderr.strip()[-500:]}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    mem = ("start", "env", "session", "steps", "VmHWM", "RssAnon", "RssFile")
    return {k: v / 1024.0 if k in mem else v for k, v in out.items()}


def macs_per_frame(policy) -> int:
    """Multiply-accumulates of one control step at batch 1 (convolutions, matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    from lnn_drive.deploy.export import StepGraph

    c, h, w = policy.preprocess.output_shape
    x = torch.zeros(1, h, w, c, dtype=torch.uint8)  # the graph's layout
    s = torch.zeros(1, policy.state_size)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        StepGraph(policy)(x, s)
    return fc.get_total_flops() // 2


def drive_frames(n: int, *, seed: int) -> np.ndarray:
    """``n`` consecutive camera frames (N, H, W, 3) of the privileged expert driving a road."""
    from lnn_drive.envs import make_env

    env = make_env({}, max_episode_steps=n + 1, crash_mode="intervene")
    obs, info = env.reset(seed=seed)
    out = [obs]
    while len(out) < n:
        obs, _, term, trunc, info = env.step([info["expert_action"]])
        out.append(obs)
        if term or trunc:
            obs, info = env.reset(seed=seed + len(out))
    env.close()
    return np.stack(out)


def time_steppers(steppers: dict, frame: np.ndarray, *, rounds: int, steps: int) -> dict:
    """Median ms per step of each stepper over interleaved rounds of ``steps`` steps."""
    for f in steppers.values():  # warm-up
        for _ in range(20):
            f(frame)
    per = {k: [] for k in steppers}
    for _ in range(rounds):
        for k, f in steppers.items():
            t = time.perf_counter()
            for _ in range(steps):
                f(frame)
            per[k].append((time.perf_counter() - t) / steps * 1e3)
    return {k: float(np.median(v)) for k, v in per.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--checkpoint", help="trained checkpoint (default: untrained paper model)")
    ap.add_argument("--calibration-log", default=str(PROJECT_ROOT / "data" / "sample"))
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=200, help="steps per timing round")
    ap.add_argument("--parity-frames", type=int, default=1000)
    ap.add_argument("--roads", type=int, default=4, help="closed-loop roads (0: skip)")
    ap.add_argument("--road-steps", type=int, default=600)
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args(argv)
    if a.checkpoint and not Path(a.checkpoint).is_file():
        print(f"error: --checkpoint {a.checkpoint}: no such file", file=sys.stderr)
        return 2
    if min(a.rounds, a.steps) < 1 or a.parity_frames < 0 or a.roads < 0:
        print("error: --rounds/--steps must be >= 1, --parity-frames/--roads >= 0", file=sys.stderr)
        return 2
    torch.set_num_threads(1)

    from lnn_drive.deploy.export import (
        calibration_frames,
        chw_to_hwc,
        export_policy,
        max_onnx_error,
        quantize_int8,
    )
    from lnn_drive.deploy.runtime import OnnxPolicy
    from lnn_drive.models import Policy
    from lnn_drive.models.inference import FastActor

    ck = None
    if a.checkpoint:
        from lnn_drive.train.checkpoint import read_checkpoint

        ck = read_checkpoint(a.checkpoint)
        policy = Policy.load(a.checkpoint)
        label = f"{policy.model_name} (trained: {a.checkpoint})"
    else:
        import yaml

        from lnn_drive.data import Preprocess

        torch.manual_seed(0)
        cfg = yaml.safe_load((PROJECT_ROOT / "conf/model/ncp_cfc.yaml").read_text())
        policy = Policy(
            model_cfg=cfg, preprocess=Preprocess().with_input(78, 200), output_names=["steering"]
        ).eval()
        label = "ncp_cfc (untrained: latency and memory only)"
    cal = calibration_frames(a.calibration_log, policy, frames=256)
    tmp = Path(tempfile.mkdtemp(prefix="bench_edge_"))
    fp32 = export_policy(policy, tmp / "m.fp32.onnx", checkpoint=ck)
    int8 = quantize_int8(fp32, tmp / "m.int8.onnx", cal)
    print(f"# Edge budget: {label}\n")

    # ---------------------------------------------------------------- latency
    ort32, ort8 = OnnxPolicy(fp32), OnnxPolicy(int8)
    fa32 = FastActor(policy, precision="fp32")
    fa8 = FastActor(policy, precision="int8", calibration=cal[:64])
    hx = {"eager": None}

    @torch.inference_mode()
    def eager(f: np.ndarray) -> None:
        _, hx["eager"] = policy(torch.from_numpy(f)[None, None], hx["eager"])

    for r in (ort32, ort8):
        r.reset(1)
    x = chw_to_hwc(cal[:1])  # (1, h, w, 3): the exported graph's layout, the same frame
    steppers = {
        "PyTorch eager fp32": eager,
        "FastActor fp32 (TorchScript)": fa32.step,
        "FastActor int8 (TorchScript)": fa8.step,
        "ONNX Runtime fp32": lambda _: ort32.step(x),
        "ONNX Runtime int8": lambda _: ort8.step(x),
    }
    ms = time_steppers(steppers, cal[0], rounds=a.rounds, steps=a.steps)
    ref = ms["PyTorch eager fp32"]
    print("| runtime (batch 1, 1 thread) | ms/step (median) | vs eager |")
    print("| --- | ---: | ---: |")
    for k, v in ms.items():
        print(f"| {k} | {v:.3f} | {ref / v:.2f}x |")

    # ---------------------------------------------------------------- memory, size, MACs
    ort8.reset(1)
    first_action = float(ort8.step(chw_to_hwc(cal[:1]))[0, 0])
    frames8 = tmp / "frames8.npy"
    np.save(frames8, chw_to_hwc(cal[:8]))  # (8, h, w, 3)
    mem = {
        "ONNX int8": child_memory(_RSS_CHILD, int8, 500, frames8),
        "ONNX fp32": child_memory(_RSS_CHILD, fp32, 500, frames8),
        "import floor": child_memory(_RSS_CHILD, "-", 0, frames8),
    }
    sizes = {"ONNX fp32": fp32.stat().st_size, "ONNX int8": int8.stat().st_size}
    if a.checkpoint:
        mem["PyTorch"] = child_memory(_RSS_TORCH_CHILD, Path(a.checkpoint), 500, frames8)
    native = native_host(int8, chw_to_hwc(cal[:8]), policy.state_size, 2100)
    if native is not None:
        mem["native"] = native
        sizes["checkpoint (.pt, with optimiser)"] = Path(a.checkpoint).stat().st_size
    params = sum(p.numel() for p in policy.parameters())
    macs = macs_per_frame(policy)
    print(
        "\n| process (fresh interpreter, 500 steps) | peak RSS (VmHWM) | anonymous | "
        "file-backed (library pages) |\n| --- | ---: | ---: | ---: |"
    )
    what = {
        "ONNX int8": "runs only ONNX int8 (`runtime.py` alone, numpy + onnxruntime, torch hidden)",
        "ONNX fp32": "runs only ONNX fp32 (the same)",
        "import floor": "import floor: python + numpy + onnxruntime + `runtime.py`, no model",
        "PyTorch": "runs the PyTorch policy",
        "native": "runs only ONNX int8 from C (`scripts/edge_native_host.c`, ORT C API, no Python)",
    }
    for k, m in mem.items():
        print(
            f"| {what[k]} | {m['VmHWM']:.1f} MB | {m['RssAnon']:.1f} MB | {m['RssFile']:.1f} MB |"
        )
    stages = mem["ONNX int8"]
    order = ["python", "numpy", "onnxruntime", "runtime.py", "session", "steps"]
    print("\nWhere the int8 process's resident memory goes (VmRSS after each stage):\n")
    print("| stage | RSS | added |\n| --- | ---: | ---: |")
    for i, k in enumerate(order):
        add = stages[k] - stages[order[i - 1]] if i else stages[k]
        print(f"| {k} | {stages[k]:.1f} MB | +{add:.1f} MB |")
    if native is None:
        print("\n(native host skipped: no C compiler or no libonnxruntime.so in the wheel)")
    else:
        st = [f"{k} {native[k]:.1f} MB" for k in ("start", "env", "session", "steps")]
        print(
            "\nThe native host's resident memory after each stage (program start, library "
            f"loaded + environment, session, steps): {', '.join(st)}."
        )
        print(
            f"The native host, 2,000 steps after this table (not interleaved with it): "
            f"{native['ms_per_step']:.3f} ms per step (median of rounds of 100), first action "
            f"{native['first_action']:.6g} (ONNX Runtime int8 from Python: {first_action:.6g})."
        )
    print("\n| measure | value |\n| --- | ---: |")
    for k, v in sizes.items():
        print(f"| model bytes, {k} | {v:,} |")
    print(f"| parameters | {params:,} |")
    print(f"| multiply-accumulates per frame (conv + matmul) | {macs:,} |")

    # ---------------------------------------------------------------- Raspberry Pi estimate
    print("\n| device (estimate, not measured) | fp32 ms/step | int8 ms/step |")
    print("| --- | ---: | ---: |")
    for dev, d in PI.items():
        # MAC time at the assumed throughput + this CPU's whole step time scaled by the
        # slowdown (an upper-side estimate: it counts this CPU's MAC time a second time)
        est = [
            macs / (g * 1e6) + ms[k] * d["slowdown"]
            for g, k in zip(d["gmacs"], ("ONNX Runtime fp32", "ONNX Runtime int8"), strict=True)
        ]
        print(f"| {dev} | {est[0]:.1f} | {est[1]:.1f} |")
    print(
        "\nAssumptions: "
        + "; ".join(
            f"{k}: {v['gmacs'][0]} / {v['gmacs'][1]} GMAC/s sustained (fp32 / int8) on one core, "
            f"other work {v['slowdown']}x slower than on this CPU"
            for k, v in PI.items()
        )
        + ". A 30 fps camera leaves 33 ms per frame."
    )

    # ---------------------------------------------------------------- parity
    result = {
        "label": label,
        "ms_per_step": ms,
        "memory_mb": mem,
        "bytes": sizes,
        "macs": macs,
        "params": params,
    }
    if a.parity_frames:
        raw = drive_frames(a.parity_frames, seed=50_000)
        seq = policy.preprocess.geometry_batch(raw)  # (N, 3, h, w)
        with torch.no_grad():
            actions, _ = policy(torch.from_numpy(seq)[None])
        scale = float(actions.abs().max())
        e32, e8 = max_onnx_error(policy, fp32, seq), max_onnx_error(policy, int8, seq)
        from lnn_drive.models.inference import max_action_error

        e_fa8 = max_action_error(fa8, policy, seq)
        print(
            f"\nParity over {len(seq)} simulator frames, state carried (max |action| {scale:.4f} 1/m):"
        )
        print(f"- ONNX fp32: max |action - PyTorch| = {e32:.2e} 1/m")
        print(
            f"- ONNX int8: max |action - PyTorch| = {e8:.2e} 1/m ({e8 / scale:.2%} of max |action|)"
        )
        print(f"- FastActor int8 (for comparison): {e_fa8:.2e} 1/m")
        result["parity"] = {
            "frames": len(seq),
            "fp32": e32,
            "int8": e8,
            "max_action": scale,
            "fastactor_int8": e_fa8,
        }

    # ---------------------------------------------------------------- closed loop
    if a.roads:
        from lnn_drive.envs import env_fn
        from lnn_drive.eval.metrics import compute_metrics
        from lnn_drive.eval.rollout import run_drives

        fn = env_fn({}, crash_mode="intervene", max_episode_steps=a.road_steps)
        seeds = list(range(40_000, 40_000 + a.roads))
        rows = {}
        for name, pol in (("PyTorch", policy), ("ONNX fp32", ort32), ("ONNX int8", ort8)):
            tr = run_drives(pol, fn, seeds=seeds, num_envs=1, vector="sync")
            m = compute_metrics(tr).to_dict(prefix="")
            rows[name] = {"interventions": sum(t.interventions for t in tr), **m}
        keys = [
            k for k in ("autonomy", "interventions_per_km", "mae_offset") if k in rows["PyTorch"]
        ]
        print(
            f"\nClosed loop, {a.roads} roads x {a.road_steps} steps (seeds {seeds[0]}-{seeds[-1]}):\n"
        )
        print("| runtime | interventions | " + " | ".join(keys) + " |")
        print("| --- | ---: |" + " ---: |" * len(keys))
        for name, r in rows.items():
            vals = " | ".join(f"{r[k]:.4g}" for k in keys)
            print(f"| {name} | {r['interventions']} | {vals} |")
        result["closed_loop"] = rows
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
