"""The drone's world: a flat meadow with trees, bushes, clearings and one target.

Everything is drawn from a ``numpy.random.Generator`` so that a reset seed fixes the scene.
The ground is a seamless (periodic) texture, so it covers any area without streaming; the
objects are an array table (:data:`OBJ_COLUMNS`) that the renderer draws as depth-sorted
billboards and the dynamics test for collisions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from lnn_drive.envs.config import Appearance, appearance

#: Columns of the object table.
OBJ_COLUMNS = ("x", "y", "width", "height", "kind", "r", "g", "b", "seed", "radius")
(O_X, O_Y, O_W, O_H, O_KIND, O_R, O_G, O_B, O_SEED, O_RAD) = range(len(OBJ_COLUMNS))
#: Object kinds (column ``kind``).
KINDS = ("tree", "conifer", "bush", "target")
K_TREE, K_CONIFER, K_BUSH, K_TARGET = range(len(KINDS))
#: The target: a red chair, 0.9 m wide and 1.2 m tall (seat at 0.5 m, backrest above).
TARGET_RGB = (205, 30, 35)
TARGET_SIZE = (0.9, 1.2)

#: Ground texture: texels per side of the finest level, and metres per texel there.
TEX_N = 512
TEX_RES = 0.125
TEX_LEVELS = 7


@dataclass(frozen=True, kw_only=True)
class World:
    """One scene.

    Attributes:
        objects: Object table float64 (M, len(OBJ_COLUMNS)); row 0 is the target.
        target: Target position (x, y) in m.
        clearings: Treeless discs (K, 3): centre x, y and radius (m).
        texture: Packed RGBX ground texture uint32 (TEX_LEVELS, TEX_N, TEX_N); level l
            uses the top-left ``TEX_N >> l`` square.
    """

    objects: np.ndarray
    target: tuple[float, float]
    clearings: np.ndarray
    texture: np.ndarray

    def __post_init__(self) -> None:
        if self.objects.ndim != 2 or self.objects.shape[1] != len(OBJ_COLUMNS):
            raise ValueError(f"objects must be (M, {len(OBJ_COLUMNS)}), got {self.objects.shape}")
        if self.objects.shape[0] < 1 or self.objects[0, O_KIND] != K_TARGET:
            raise ValueError("row 0 of the object table must be the target")


def _periodic_noise(rng: np.random.Generator, n: int, falloff: float, cutoff: int) -> np.ndarray:
    """Seamless noise (n, n) in about [-1, 1]: random phases with a power-law spectrum."""
    k = np.fft.fftfreq(n) * n
    kk = np.hypot(k[:, None], k[None, : n // 2 + 1])
    amp = np.where((kk > 0) & (kk <= cutoff), 1.0 / np.maximum(kk, 1.0) ** falloff, 0.0)
    spec = amp * np.exp(2j * np.pi * rng.random(amp.shape))
    noise = np.fft.irfft2(spec, s=(n, n))
    return noise / (np.abs(noise).max() + 1e-12)


@functools.lru_cache(maxsize=16)
def ground_texture(season: str, variant: int) -> np.ndarray:
    """The packed RGBX mip pyramid (TEX_LEVELS, TEX_N, TEX_N) of a season's meadow;
    ``variant`` picks one of a few fixed random textures (cached, read-only)."""
    look = appearance(season)
    rng = np.random.default_rng([0x6D0E, variant, sum(map(ord, season))])
    n = TEX_N
    base = np.asarray(look.ground, np.float64) * np.ones((n, n, 3))
    blotch = _periodic_noise(rng, n, 1.2, 24)[..., None]
    tone = np.array([1.0, 0.85, 1.15]) if season != "winter" else np.ones(3)
    img = base + look.ground_var * blotch * tone
    dry = _periodic_noise(rng, n, 1.5, 8)[..., None]  # patches of drier ground
    img = img + 0.6 * look.ground_var * np.clip(dry, 0, None) * np.array([1.0, 0.6, -0.2])
    img += rng.normal(0.0, 0.35 * look.ground_var, (n, n, 1))  # grass grain
    if look.speckle:
        hit = rng.random((n, n)) < look.speckle_prob
        pick = rng.integers(0, len(look.speckle), (n, n))
        pal = np.asarray(look.speckle, np.float64)
        img = np.where(hit[..., None], pal[pick], img)
    img = np.clip(img * look.light, 0, 255).astype(np.uint8)
    tex = np.zeros((TEX_LEVELS, n, n), np.uint32)
    lvl = img
    for level in range(TEX_LEVELS):
        m = n >> level
        if level:
            lvl = cv2.resize(lvl, (m, m), interpolation=cv2.INTER_AREA)
        rgbx = np.zeros((m, m, 4), np.uint8)
        rgbx[..., :3] = lvl
        tex[level, :m, :m] = rgbx.view(np.uint32)[..., 0]
    tex.setflags(write=False)
    return tex


def _colour(rng: np.random.Generator, palette: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    c = np.asarray(palette[int(rng.integers(len(palette)))], np.float64)
    return np.clip(c * rng.uniform(0.85, 1.15), 0, 255)


def _segment_distance(px: np.ndarray, py: np.ndarray, b: tuple[float, float]) -> np.ndarray:
    """Distance of points (px, py) to the segment from (0, 0) to ``b``."""
    bx, by = b
    t = np.clip((px * bx + py * by) / (bx * bx + by * by), 0.0, 1.0)
    return np.hypot(px - t * bx, py - t * by)


def generate_world(
    rng: np.random.Generator,
    look: Appearance,
    season: str,
    *,
    target: tuple[float, float],
    arena: float,
    tree_density: float,
    bush_density: float,
    clearings: int,
    corridor: float,
) -> World:
    """A random scene around a start at the origin, with the target at ``target``.

    Trees (deciduous and conifers, 3-9 m tall) and bushes are scattered over the square
    ``[-arena, arena]^2`` except in clearings: one around the start (3.5 m), one around
    the target (4 m), ``clearings`` random ones; no crown comes within ``corridor`` of the
    straight line from start to target (bushes, lower than the flight altitude, may).
    Bushes are kept off the start and target clearings only.
    """
    tx, ty = target
    disc = [(0.0, 0.0, 3.5), (tx, ty, 4.0)]
    for _ in range(clearings):
        r = rng.uniform(5.0, 12.0)
        disc.append((rng.uniform(-arena, arena), rng.uniform(-arena, arena), r))
    disc_a = np.asarray(disc, np.float64)
    area = (2 * arena) ** 2 / 100.0
    rows = [
        [tx, ty, TARGET_SIZE[0], TARGET_SIZE[1], K_TARGET, *TARGET_RGB, 0.0, 0.45],
    ]
    w_tree, w_con = (3.0, 4.0) if season == "winter" else (4.0, 2.0)
    for kind_density, is_bush in ((tree_density, False), (bush_density, True)):
        count = int(rng.poisson(kind_density * area))
        px = rng.uniform(-arena, arena, count)
        py = rng.uniform(-arena, arena, count)
        free = np.ones(count, bool)
        for cx, cy, r in disc_a[: 2 if is_bush else len(disc_a)]:
            free &= np.hypot(px - cx, py - cy) > r
        for x, y in zip(px[free], py[free], strict=True):
            seed = float(rng.integers(1, 1 << 20))
            if is_bush:
                w = rng.uniform(0.8, 2.0)
                h = w * rng.uniform(0.45, 0.7)
                rows.append([x, y, w, h, K_BUSH, *_colour(rng, look.bush), seed, 0.4 * w])
            elif rng.random() < w_tree / (w_tree + w_con):
                h = rng.uniform(4.0, 9.0)
                w = h * rng.uniform(0.45, 0.7)
                rows.append([x, y, w, h, K_TREE, *_colour(rng, look.crowns), seed, 0.35 * w])
            else:
                h = rng.uniform(3.0, 8.0)
                w = h * rng.uniform(0.3, 0.45)
                rows.append([x, y, w, h, K_CONIFER, *_colour(rng, (look.conifer,)), seed, 0.3 * w])
    objects = np.asarray(rows, np.float64)
    # keep the corridor clear of crowns and trunks (bushes are below the flight altitude)
    seg = _segment_distance(objects[:, O_X], objects[:, O_Y], target)
    blocked = (objects[:, O_KIND] != K_BUSH) & (objects[:, O_KIND] != K_TARGET)
    blocked &= seg < corridor + objects[:, O_RAD]
    objects = objects[~blocked]
    variant = int(rng.integers(4))
    return World(
        objects=objects,
        target=(float(tx), float(ty)),
        clearings=disc_a,
        texture=ground_texture(season, variant),
    )


__all__ = [
    "KINDS",
    "OBJ_COLUMNS",
    "TARGET_RGB",
    "TARGET_SIZE",
    "World",
    "generate_world",
    "ground_texture",
]
