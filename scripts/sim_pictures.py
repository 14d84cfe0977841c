"""Pictures of what the simulator's camera sees, for docs/simulator.md.

    python scripts/sim_pictures.py [--out docs/img --seed 3 --steps 120]

Writes ``presets.png`` (the same road and moment under every appearance preset, two
moments per preset), ``labels.png`` (frames beside their semantic label images) and
``hard.png`` (frames of one drive on the hard task profile, beside their labels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from lnn_drive.envs import LABEL_CLASSES, PRESETS, EnvConfig, make_env

#: Label colours (RGB) for pictures.
LABEL_COLOURS = {
    0: (120, 170, 235),
    1: (70, 140, 60),
    2: (90, 90, 95),
    3: (250, 250, 250),
    4: (230, 90, 40),
}


def frames_at(preset: str, seed: int, steps: list[int], profile: str = "easy"):
    env = make_env(EnvConfig.from_profile(profile, preset=preset))
    obs, info = env.reset(seed=seed)
    out, labs, i = [], [], 0
    for target in steps:
        while i < target:
            obs, _, _, _, info = env.step(np.array([info["expert_action"]], np.float32))
            i += 1
        out.append(obs)
        labs.append(env.unwrapped.render_labels())
    env.close()
    return out, labs


def label_rgb(lab: np.ndarray) -> np.ndarray:
    lut = np.zeros((256, 3), np.uint8)
    for k, c in LABEL_COLOURS.items():
        lut[k] = c
    return lut[lab]


def caption(img: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((22, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, img])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/img")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--steps", type=int, nargs="+", default=[90, 240])
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--hard-seed", type=int, default=10_000)
    ap.add_argument("--hard-steps", type=int, nargs="+", default=[100, 200, 400, 500, 600])
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def up(im: np.ndarray) -> np.ndarray:
        return cv2.resize(im, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_NEAREST)

    rows, lab_rows = [], []
    for preset in PRESETS:
        frames, labs = frames_at(preset, args.seed, args.steps)
        gap = np.full((frames[0].shape[0] * args.scale, 6, 3), 255, np.uint8)
        row = np.hstack([x for f in frames for x in (up(f), gap)][:-1])
        rows.append(caption(row, f"{preset}"))
        if preset == "summer":
            for f, lab in zip(frames, labs, strict=True):
                lab_rows.append(np.hstack([up(f), gap, up(label_rgb(lab))]))
    sheet = np.vstack(rows)
    cv2.imwrite(str(out / "presets.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    legend = "  ".join(f"{k} {v}" for k, v in LABEL_CLASSES.items())
    lab_sheet = caption(np.vstack(lab_rows), f"frame | labels: {legend}")
    cv2.imwrite(str(out / "labels.png"), cv2.cvtColor(lab_sheet, cv2.COLOR_RGB2BGR))
    frames, labs = frames_at("summer", args.hard_seed, args.hard_steps, profile="hard")
    gap = np.full((frames[0].shape[0] * args.scale, 6, 3), 255, np.uint8)
    hard = [
        np.hstack([up(f), gap, up(label_rgb(lab))]) for f, lab in zip(frames, labs, strict=True)
    ]
    hard_sheet = caption(np.vstack(hard), "hard profile: frame | labels")
    cv2.imwrite(str(out / "hard.png"), cv2.cvtColor(hard_sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {out / 'presets.png'}, {out / 'labels.png'} and {out / 'hard.png'}")


if __name__ == "__main__":
    main()
