"""Training data pipeline throughput: frames/s delivered from the decode-once cache with
augmentation on, against a naive pipeline measured in the same run.

    python scripts/bench_data.py [--episodes 8 --frames 250 --batches 30 --repeats 5]

Batches of 32 windows x 16 frames at 78x200, one core (torch, OpenCV and BLAS limited to
one thread, no DataLoader workers). The naive reference decodes each window from the
video (seek + decode), preprocesses and augments per frame in float32 numpy: what a
first implementation typically does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lnn_drive.data import LogWriter, Preprocess, build_datasets, make_loader  # noqa: E402
from lnn_drive.data.log import DrivingLog  # noqa: E402

B, T, H, W = 32, 16, 78, 200


def make_log(root: Path, episodes: int, frames: int) -> None:
    """Road-like frames with texture (so the lossless codec has real work to do)."""
    rng = np.random.default_rng(0)
    cols = np.arange(W)[None, :]
    rows = np.arange(H)[:, None]
    with LogWriter(
        root, height=H, width=W, fps=30, signals={"steering": "1/m", "speed": "m/s"}, source="bench"
    ) as log:
        for e in range(episodes):
            with log.episode() as ep:
                for j in range(frames):
                    k = 0.05 * np.sin(j / 20 + e)
                    img = np.empty((H, W, 3), np.uint8)
                    img[:] = (70, 120, 60)
                    img[: H // 3] = (120, 170, 230)
                    centre = W / 2 + k * 600 * (H - rows) / H
                    road = (np.abs(cols - centre) < 8 + 70 * (rows - H / 3) / H) & (rows > H // 3)
                    img[road] = (90, 90, 90)
                    img = np.clip(img + rng.integers(-12, 12, img.shape), 0, 255).astype(np.uint8)
                    ep.append(img, timestamp=j / 30, steering=k, speed=10.0)


def naive_batches(root: Path, n_batches: int, rng: np.random.Generator):
    """Seek-and-decode per window, float32 per-frame augmentation."""
    dlog = DrivingLog(root)
    pre = Preprocess().with_input(H, W)
    eps = dlog.episodes
    for _ in range(n_batches):
        batch = np.empty((B, T, 3, H, W), np.float32)
        for b in range(B):
            ep = eps[rng.integers(len(eps))]
            start = int(rng.integers(0, ep.num_frames - T + 1))
            cap = cv2.VideoCapture(str(dlog.video_path(ep)))
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            gain, offset = rng.uniform(0.7, 1.3), rng.uniform(-30, 30)
            shift = int(rng.integers(-16, 17))
            shadow = np.ones((H, W), np.float32)
            x0, x1 = sorted(rng.uniform(0, W, 2).astype(int))
            shadow[:, x0:x1] = rng.uniform(0.45, 0.8)
            for t in range(T):
                ok, bgr = cap.read()
                f = pre.geometry(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).astype(np.float32)
                f = (f - 128) * gain + 128 + offset
                f = f * shadow
                f = np.roll(f, shift, axis=-1)
                f += rng.normal(0, 4, f.shape).astype(np.float32)
                batch[b, t] = np.clip(f, 0, 255)
            cap.release()
        yield torch.from_numpy(batch)


def time_it(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--naive-batches", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "log"
        make_log(root, args.episodes, args.frames)
        base = dict(
            roots=[str(root)], window=T, stride=1, val_fraction=0.0, cache_dir=f"{tmp}/cache"
        )
        t0 = time.perf_counter()
        build_datasets({**base, "augment": {"enabled": False}})
        build_s = time.perf_counter() - t0

        rows = []
        configs = {
            "cache + augmentation (default probabilities)": {},
            "cache + every augmentation on every window": {
                "shadow_prob": 1.0,
                "noise_prob": 1.0,
                "shift_prob": 1.0,
            },
            "cache, no augmentation": {"enabled": False},
        }
        for name, aug in configs.items():
            split = build_datasets({**base, "augment": aug})
            loader = make_loader(split.train, batch_size=B, shuffle=True, seed=0, drop_last=True)

            def run(loader=loader) -> None:
                it = iter(loader)
                for _ in range(args.batches):
                    frames, _ = next(it)
                    assert frames.shape == (B, T, 3, H, W)

            run()  # warm the page cache and noise banks
            rows.append((name, B * T * args.batches / time_it(run, args.repeats)))

        rng = np.random.default_rng(0)

        def naive() -> None:
            for frames in naive_batches(root, args.naive_batches, rng):
                assert frames.shape == (B, T, 3, H, W)

        naive_fps = B * T * args.naive_batches / time_it(naive, max(1, args.repeats // 2))

    print(
        f"data pipeline, batches of {B} windows x {T} frames at {H}x{W}, 1 thread, "
        f"{args.episodes * args.frames} frames (cache built once in {build_s:.1f} s)"
    )
    print(f"| {'pipeline':<46} | {'frames/s':>9} | {'vs naive':>8} |")
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 10}|")
    for name, fps in rows:
        print(f"| {name:<46} | {fps:>9,.0f} | {fps / naive_fps:>7.1f}x |")
    print(
        f"| {'naive: seek+decode per window, float32 augment':<46} | {naive_fps:>9,.0f} | {1:>7.1f}x |"
    )
    target = 5000
    verdict = "meets" if rows[0][1] >= target else "MISSES"
    print(f"\ntarget >= {target:,} frames/s with augmentation: {verdict} ({rows[0][1]:,.0f})")


if __name__ == "__main__":
    main()
