"""Check an exported LeRobot dataset with LeRobot's own loader (``LeRobotDataset``).

Run with a Python that has ``lerobot[dataset]`` installed (it needs Python >= 3.12 and its
own torch, so keep it in a separate virtual environment), after writing the reference
arrays with this project's venv::

    python scripts/checks/lerobot_loader_check.py reference data/sample /tmp/lr ref.npz
    /path/to/lerobot-venv/bin/python scripts/checks/lerobot_loader_check.py load /tmp/lr ref.npz

``load`` prints what LeRobot returns for a few frames and the largest pixel and action
differences against the lnn_drive source; exit status 1 when they exceed ``--max-pixel``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

PROBES = (0, 1, 99, 100, 350, 599)


def reference(src: str, out_npz: str) -> None:
    from lnn_drive.data import DrivingLog

    log = DrivingLog(src)
    frames, actions, index = [], [], 0
    want = set(PROBES)
    for ep in log.episodes:
        sig = log.signals(ep)
        for j, f in enumerate(log.iter_frames(ep)):
            if index + j in want:
                frames.append(f)
                actions.append(sig["steering"][j])
        index += ep.num_frames
    np.savez(out_npz, frames=np.stack(frames), actions=np.array(actions), probes=np.array(PROBES))


def load(root: str, ref_npz: str, max_pixel: float, backend: str) -> int:
    import lerobot
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ref = np.load(ref_npz)
    ds = LeRobotDataset("local/lnn_drive_export", root=root, video_backend=backend)
    print(
        f"lerobot {lerobot.__version__}: {ds.num_episodes} episodes, {ds.num_frames} frames, fps {ds.fps}"
    )
    print("features:", list(ds.features))
    print("stats of action:", sorted(ds.meta.stats["action"]))
    worst_px = worst_act = 0.0
    for k, i in enumerate(ref["probes"]):
        item = ds[int(i)]
        img = item[next(key for key in item if key.startswith("observation.images."))]
        rgb = np.round(img.permute(1, 2, 0).numpy() * 255).astype(int)  # (C,H,W) -> (H,W,C)
        px = float(np.abs(rgb - ref["frames"][k].astype(int)).mean())
        act = float(abs(float(item["action"]) - ref["actions"][k]))
        worst_px, worst_act = max(worst_px, px), max(worst_act, act)
        print(
            f"index {int(i)}: episode {int(item['episode_index'])} frame {int(item['frame_index'])} "
            f"t={float(item['timestamp']):.4f} task={item['task']!r} pixel MAE {px:.3f} |d action| {act:.2e}"
        )
    print(f"worst pixel MAE {worst_px:.3f}, worst action difference {worst_act:.2e}")
    return 0 if worst_px <= max_pixel and worst_act < 1e-6 else 1


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reference")
    r.add_argument("src")
    r.add_argument("npz")
    ld = sub.add_parser("load")
    ld.add_argument("root")
    ld.add_argument("npz")
    ld.add_argument("--max-pixel", type=float, default=0.0)
    ld.add_argument("--backend", default="pyav")
    a = p.parse_args()
    if a.cmd == "reference":
        reference(a.src, a.npz)
        return 0
    return load(a.root, a.npz, a.max_pixel, a.backend)


if __name__ == "__main__":
    sys.exit(main())
