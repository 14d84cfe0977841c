"""Scenery: the objects beside the road (trees, conifers, bushes, poles, buildings) and
the shadows they cast on the ground.

An object table is a float64 array with one row per object and the columns named below;
the renderer (:mod:`lnn_drive.envs.render`) draws them as billboards, the ground texture
(:mod:`lnn_drive.envs.ground`) darkens their shadows.
"""

from __future__ import annotations

import math

import numpy as np

from lnn_drive.envs.config import OBJECT_KINDS, Appearance
from lnn_drive.envs.road import Road

# Object table columns.
OX, OY, OS, OKIND, OW, OH, OR, OG, OB, OSEED = range(10)
N_OBJ_COLS = 10


def generate_objects(
    rng: np.random.Generator, road: Road, look: Appearance, *, density: float, start: float
) -> np.ndarray:
    """Place roadside objects at random offsets beside the road.

    Returns:
        float64 (K, N_OBJ_COLS) table sorted by arc length, columns ``OX, OY, OS, OKIND, OW,
        OH, OR, OG, OB, OSEED`` (position m, arc length m, kind index into
        :data:`OBJECT_KINDS`, width and height m, colour 0-255, a per-object texture seed).
    """
    half = road.lane_width + road.shoulder_width
    count = int(rng.poisson(density * max(road.length - start, 0) / 100.0))
    if count == 0:
        return np.zeros((0, N_OBJ_COLS))
    p = np.asarray(look.kinds, np.float64)
    kind = rng.choice(len(p), size=count, p=p / p.sum())
    s = rng.uniform(start, road.length, count)
    side = np.where(rng.random(count) < 0.5, 1.0, -1.0)
    u = rng.random((count, 3))  # width, height, gap
    #            width lo/hi    height lo/hi   gap from the shoulder lo/hi (m)
    ranges = np.array(
        [
            [3.0, 6.0, 6.0, 12.0, 1.5, 14.0],  # tree
            [2.5, 4.5, 6.0, 14.0, 1.5, 14.0],  # conifer
            [1.0, 2.8, 0.7, 1.8, 0.4, 6.0],  # bush
            [0.25, 0.25, 6.0, 9.0, 0.5, 2.5],  # pole
            [8.0, 16.0, 5.0, 12.0, 6.0, 25.0],  # building
        ]
    )[kind]
    w = ranges[:, 0] + u[:, 0] * (ranges[:, 1] - ranges[:, 0])
    h = ranges[:, 2] + u[:, 1] * (ranges[:, 3] - ranges[:, 2])
    gap = ranges[:, 4] + u[:, 2] * (ranges[:, 5] - ranges[:, 4])
    palettes = [look.crowns, (look.conifer,), look.bush, (look.pole,), look.walls]
    pick = rng.random(count)
    col = np.array(
        [
            palettes[k][min(int(q * len(palettes[k])), len(palettes[k]) - 1)]
            for k, q in zip(kind, pick, strict=True)
        ],
        np.float64,
    )
    col = np.clip(col * rng.uniform(0.85, 1.15, (count, 3)), 0, 255)
    seeds = rng.integers(1 << 30, size=count)
    d = side * (half + gap + w / 2)
    x, y = road.points(s, d)
    objs = np.column_stack([x, y, s, kind, w, h, col, seeds]).astype(np.float64)
    # Drop objects standing on another stretch of the same road (a bend passing nearby).
    d2 = (objs[:, None, OX] - road.x[None, ::4]) ** 2 + (objs[:, None, OY] - road.y[None, ::4]) ** 2
    objs = objs[d2.min(axis=1) > (half + 0.5 + objs[:, OW] / 2) ** 2]
    return objs[np.argsort(objs[:, OS], kind="stable")]


def shadow_polygons(objs: np.ndarray, sun_azimuth: float, sun_elevation_deg: float) -> np.ndarray:
    """World-space convex polygons of the shadows the objects cast on the ground.

    Returns:
        float64 (M, 14, 2); polygons with fewer corners repeat their last one.
    """
    lf = 1.0 / math.tan(math.radians(max(sun_elevation_deg, 5.0)))
    u = np.array([-math.cos(sun_azimuth), -math.sin(sun_azimuth)])  # away from the sun
    v = np.array([-u[1], u[0]])
    t = np.linspace(0, 2 * np.pi, 14, endpoint=False)
    cos_t, sin_t = np.cos(t), np.sin(t)
    p = objs[:, [OX, OY]]
    w, h, kind = objs[:, OW], objs[:, OH], objs[:, OKIND].astype(int)

    def pad(poly: np.ndarray) -> np.ndarray:  # (K, m, 2) -> (K, 14, 2)
        return np.concatenate([poly, np.repeat(poly[:, -1:], 14 - poly.shape[1], axis=1)], axis=1)

    def quad(sel: np.ndarray, width: np.ndarray, length: np.ndarray) -> np.ndarray:
        q, wv, lu = p[sel], (width / 2)[:, None] * v, length[:, None] * u
        return pad(np.stack([q - wv, q + wv, q + wv + lu, q - wv + lu], axis=1))

    def ellipse(centre: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (
            centre[:, None, :]
            + (a[:, None] * cos_t)[..., None] * u
            + (b[:, None] * sin_t)[..., None] * v
        )

    out = []
    tree = kind == OBJECT_KINDS.index("tree")
    if tree.any():
        r = w[tree] / 2
        out.append(
            ellipse(
                p[tree] + (0.62 * h[tree] * lf)[:, None] * u,
                np.minimum(r * math.hypot(1, lf), 4 * r),
                r,
            )
        )
        out.append(quad(tree, np.full(tree.sum(), 0.3), 0.35 * h[tree] * lf))
    con = kind == OBJECT_KINDS.index("conifer")
    if con.any():
        q, wv = p[con], (w[con] / 2)[:, None] * v
        out.append(pad(np.stack([q - wv, q + wv, q + (h[con] * lf)[:, None] * u], axis=1)))
    bush = kind == OBJECT_KINDS.index("bush")
    if bush.any():
        reach = 0.3 * h[bush] * lf
        out.append(ellipse(p[bush] + reach[:, None] * u, w[bush] / 2 + reach, w[bush] / 2))
    pole = kind == OBJECT_KINDS.index("pole")
    if pole.any():
        out.append(quad(pole, np.full(pole.sum(), 0.25), h[pole] * lf))
    bld = kind == OBJECT_KINDS.index("building")
    if bld.any():
        out.append(quad(bld, w[bld], h[bld] * lf))
    return np.concatenate(out) if out else np.zeros((0, 14, 2))
