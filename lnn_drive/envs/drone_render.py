"""The drone camera renderer: the car renderer's approach extended to altitude and yaw.

The camera is gimballed: it stays level in roll and at a fixed downward pitch whatever
the airframe does, so a frame depends only on position ``(x, y)``, altitude ``z`` and yaw.
Over a flat ground each image row sees the ground at one forward distance, proportional
to the altitude, and the ground point moves linearly along the row: the ground is a
homography of a seamless texture, evaluated row by row in a numba kernel with a mip
level per row chosen from the altitude. Rows above the horizon come from the car's
360-degree sky panorama (:func:`~lnn_drive.envs.render.sky_panorama`), which scrolls with
yaw. Trees, bushes and the target are billboards drawn back to front (painter's
algorithm) with distance fog.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import njit

from lnn_drive.envs.config import Appearance
from lnn_drive.envs.drone_world import (
    K_BUSH,
    K_CONIFER,
    K_TARGET,
    K_TREE,
    O_B,
    O_G,
    O_H,
    O_KIND,
    O_R,
    O_SEED,
    O_W,
    O_X,
    O_Y,
    TEX_RES,
    World,
)
from lnn_drive.envs.render import Camera, sky_panorama

#: Objects farther than this (m) are not drawn.
DRAW_DISTANCE = 120.0
# Entries of the kernel's parameter vector.
(Q_X, Q_Y, Q_Z, Q_YAW, Q_F, Q_CX, Q_CY, Q_PITCH, Q_FOGD, Q_LIGHT, Q_SPARSE) = range(11)
Q_FOG = 11  # three entries: fog RGB
Q_TRUNK = 14  # three entries: trunk RGB
N_Q = 17


def unit_ground_rows(cam: Camera) -> np.ndarray:
    """Ground geometry of each image row for a camera 1 m above the ground, float64 (5, H):
    row sees ground (1/0), forward distance, lateral position of column 0 (left positive),
    lateral step per column, and log2 of the ground footprint of a pixel (all in m; at
    altitude z the distances scale by z and the log-footprint grows by log2(z))."""
    f = cam.focal
    cx, cy = cam.centre
    th = cam.pitch

    def hit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        yn = (v - cy) / f
        down = math.sin(th) + yn * math.cos(th)  # downward component of the ray
        fwd = math.cos(th) - yn * math.sin(th)
        t = np.where(down > 1e-6, 1.0 / np.maximum(down, 1e-6), np.inf)
        return t * fwd, t

    v = np.arange(cam.height, dtype=np.float64)
    g, t = hit(v + 0.5)
    g_near, _ = hit(v + 1.0)
    g_far, _ = hit(v)
    ok = np.isfinite(g) & (g > 0)
    depth = np.abs(np.minimum(g_far, 1e4) - g_near)
    lat = np.where(ok, t / f, 0.0)
    rows = np.zeros((5, cam.height))
    rows[0] = ok
    rows[1] = np.where(ok, g, 0.0)
    rows[2] = np.where(ok, t * (cx - 0.5) / f, 0.0)
    rows[3] = -lat
    rows[4] = np.where(ok, np.log2(np.maximum(np.sqrt(lat * np.where(ok, depth, 0.0)), 1e-9)), 0.0)
    return rows


class DroneRenderer:
    """Draws camera frames of one :class:`~lnn_drive.envs.drone_world.World`.

    Args:
        cam: The camera (its ``cam_height`` is ignored: the altitude is per frame).
        world: The scene.
        look: Appearance of the season.
        rng: Randomness for the sky panorama's hills.
        fog_distance: Fog distance (m) used instead of the season's.
    """

    def __init__(
        self,
        cam: Camera,
        world: World,
        look: Appearance,
        rng: np.random.Generator,
        *,
        fog_distance: float,
    ) -> None:
        self.cam = cam
        self.world = world
        self.objs = np.ascontiguousarray(world.objects, np.float64)
        self.rows = unit_ground_rows(cam)
        # the panorama wants the car renderer's row table: only its "sees ground" row is read
        car_rows = np.zeros((6, cam.height))
        car_rows[0] = self.rows[0]
        pano, _ = sky_panorama(cam, car_rows, look, rng, 4 * fog_distance)
        pano4 = np.zeros((*pano.shape[:2], 4), np.uint8)
        pano4[..., :3] = pano
        self.pano32 = pano4.view(np.uint32).reshape(pano.shape[:2])
        cx, cy = cam.centre
        q = np.zeros(N_Q)
        q[[Q_F, Q_CX, Q_CY, Q_PITCH]] = cam.focal, cx, cy, cam.pitch
        q[Q_FOGD] = fog_distance
        q[Q_LIGHT] = look.light
        q[Q_SPARSE] = look.crown_sparse
        q[Q_FOG : Q_FOG + 3] = look.fog_color
        q[Q_TRUNK : Q_TRUNK + 3] = look.trunk
        self.q = q
        self._buf = np.zeros((cam.height, cam.width, 4), np.uint8)
        self._buf32 = self._buf.view(np.uint32).reshape(cam.height, cam.width)
        self._depth = np.empty(len(self.objs))

    def render(self, x: float, y: float, z: float, yaw: float) -> np.ndarray:
        """RGB uint8 (H, W, 3) frame from camera position ``(x, y, z)`` heading ``yaw``."""
        q = self.q
        q[Q_X], q[Q_Y], q[Q_Z], q[Q_YAW] = x, y, max(z, 0.05), yaw
        _draw(self._buf32, q, self.rows, self.world.texture, self.pano32, self.objs, self._depth)
        return cv2.cvtColor(self._buf, cv2.COLOR_RGBA2RGB)


@njit(cache=True, inline="always")
def _noise(a, b, c):  # pragma: no cover - numba
    h = np.uint32(a * 73856093 + b * 19349663 + c * 83492791)
    h = (h ^ (h >> np.uint32(15))) * np.uint32(2246822519)
    return float((h ^ (h >> np.uint32(13))) & np.uint32(0xFFFF)) * (1.0 / 65536.0)


@njit(cache=True, inline="always")
def _chair(a, b):  # pragma: no cover - numba
    """Shade factor of the chair billboard at (a in [-1, 1] across, b in [0, 1] up), or -1
    where the pixel is empty: four legs, a seat at half height and a slatted backrest."""
    aa = abs(a)
    if b < 0.4:
        return 0.75 if aa > 0.72 or (aa > 0.2 and aa < 0.34) else -1.0
    if b < 0.5:
        return 1.0  # seat
    if aa > 0.74:
        return 0.85  # backrest posts
    if b > 0.82 or (b > 0.6 and b < 0.7):
        return 0.95  # rails
    return -1.0


@njit(cache=True, inline="always")
def _billboard(fwd, lat, z, oh, ow, f, cx, cy, cth, sth):  # pragma: no cover - numba
    """Image rows of an upright billboard's top and base, its centre column and half
    width, for a camera ``z`` above its base pitched down by (cos, sin) = (cth, sth)."""
    depth_base = fwd * cth + z * sth  # along the optical axis
    depth_top = fwd * cth + (z - oh) * sth
    if depth_base <= 0.1 or depth_top <= 0.1:
        return False, 0.0, 0.0, 0.0, 0.0
    v_base = cy + f * (z * cth - fwd * sth) / depth_base
    v_top = cy + f * ((z - oh) * cth - fwd * sth) / depth_top
    inv = 2.0 / (depth_base + depth_top)
    return True, v_top, v_base, cx - f * lat * inv, 0.5 * f * ow * inv


@njit(cache=True, fastmath=True)
def _draw(out, q, rows, tex, pano, objs, depth):  # pragma: no cover - numba
    h, w = out.shape
    x = q[Q_X]
    y = q[Q_Y]
    z = q[Q_Z]
    yaw = q[Q_YAW]
    f = q[Q_F]
    cy_, sy_ = math.cos(yaw), math.sin(yaw)
    fogd = q[Q_FOGD]
    fr, fg, fb = q[Q_FOG], q[Q_FOG + 1], q[Q_FOG + 2]
    n_lv = tex.shape[0]
    n0 = tex.shape[1]
    lz = math.log2(z) - math.log2(TEX_RES)
    npano = pano.shape[1]
    col_start = (int(math.floor(yaw * f)) + int(q[Q_CX])) % npano
    lo8 = np.uint32(0xFF)
    for v in range(h):
        if rows[0, v] == 0.0:
            if v < pano.shape[0]:
                col = col_start
                for u in range(w):
                    out[v, u] = pano[v, col]
                    col = col - 1 if col > 0 else npano - 1
            continue
        lv = min(max(int(rows[4, v] + lz + 0.25), 0), n_lv - 1)
        side = n0 >> lv
        msk = side - 1
        scale = 1.0 / (TEX_RES * (1 << lv))
        g = rows[1, v] * z
        l0 = rows[2, v] * z
        dl = rows[3, v] * z
        # texel coordinates shifted by a multiple of the level's size: positive, so that
        # truncation floors
        shift = float(side) * 65536.0
        tx = (x + g * cy_ - l0 * sy_) * scale + shift
        ty = (y + g * sy_ + l0 * cy_) * scale + shift
        dtx = -dl * sy_ * scale
        dty = dl * cy_ * scale
        fog = 1.0 - math.exp(-g / fogd)
        keep = 1.0 - fog
        ar, ag, ab = fr * fog, fg * fog, fb * fog
        tl = tex[lv]
        for u in range(w):
            t = tl[int(ty + u * dty) & msk, int(tx + u * dtx) & msk]
            r = np.uint32((t & lo8) * keep + ar)
            gg = np.uint32(((t >> np.uint32(8)) & lo8) * keep + ag)
            b = np.uint32(((t >> np.uint32(16)) & lo8) * keep + ab)
            out[v, u] = r | (gg << np.uint32(8)) | (b << np.uint32(16))
    # ---- billboards, back to front
    m = objs.shape[0]
    th = q[Q_PITCH]
    cth, sth = math.cos(th), math.sin(th)
    cx, cyc = q[Q_CX], q[Q_CY]
    half_tan = (cx + 2.0) / f
    nvis = 0
    for k in range(m):
        dx = objs[k, O_X] - x
        dy = objs[k, O_Y] - y
        fwd = dx * cy_ + dy * sy_
        lat = -dx * sy_ + dy * cy_
        if fwd < 0.3 or fwd > DRAW_DISTANCE:
            depth[k] = -1.0
            continue
        if abs(lat) - 0.5 * objs[k, O_W] > fwd * half_tan:
            depth[k] = -1.0
            continue
        depth[k] = fwd
        nvis += 1
    if nvis == 0:
        return
    order = np.argsort(-depth)[:nvis]
    light = q[Q_LIGHT]
    sparse = q[Q_SPARSE]
    tr, tg, tb = q[Q_TRUNK] * light, q[Q_TRUNK + 1] * light, q[Q_TRUNK + 2] * light
    for k in order:
        fwd = depth[k]
        ow = objs[k, O_W]
        oh = objs[k, O_H]
        kind = int(objs[k, O_KIND])
        seed = int(objs[k, O_SEED])
        lat = (objs[k, O_Y] - y) * cy_ - (objs[k, O_X] - x) * sy_
        ok, vt, vb, uc, hw = _billboard(fwd, lat, z, oh, ow, f, cx, cyc, cth, sth)
        if not ok:
            continue
        u0, u1 = max(int(math.floor(uc - hw)), 0), min(int(math.ceil(uc + hw)), w)
        v0, v1 = max(int(math.floor(vt)), 0), min(int(math.ceil(vb)), h)
        if u0 >= u1 or v0 >= v1:
            continue
        fog = 1.0 - math.exp(-fwd / fogd)
        keep = 1.0 - fog
        br = objs[k, O_R] * light
        bg = objs[k, O_G] * light
        bb = objs[k, O_B] * light
        inv_span = 1.0 / max(vb - vt, 1e-6)
        inv_hw = 1.0 / hw
        for vv in range(v0, v1):
            b = (vb - (vv + 0.5)) * inv_span  # 0 at the base, 1 at the top
            if b < 0.0 or b > 1.0:
                continue
            tv = int(b * oh * 5.0)
            for uu in range(u0, u1):
                a = (uu + 0.5 - uc) * inv_hw  # -1 left edge .. 1 right edge
                if a < -1.0 or a > 1.0:
                    continue
                tu = int((a + 1.0) * ow * 5.0)
                nz = _noise(tu, tv, seed)
                sh = -1.0
                is_trunk = False
                if kind == K_TREE:
                    rb = (b - 0.6) / 0.4
                    in_crown = a * a + rb * rb < 1.0 - 0.35 * _noise(tu >> 1, tv >> 1, seed + 5)
                    if in_crown and not (sparse > 0.0 and _noise(tu, tv, seed + 9) < sparse):
                        sh = 0.7 + 0.3 * b + 0.25 * (nz - 0.5) - 0.12 * a
                    if sh < 0.0 and b < 0.5 and abs(a) < 0.3 / ow:
                        sh = 0.8 + 0.2 * nz
                        is_trunk = True
                elif kind == K_CONIFER:
                    if b > 0.12 and abs(a) < (1.0 - b) * (0.95 + 0.1 * _noise(1, tv, seed)):
                        tier = b * oh / 1.3
                        sh = 0.6 + 0.45 * (tier - math.floor(tier)) + 0.2 * (nz - 0.5)
                    elif b <= 0.12 and abs(a) < 0.12:
                        sh = 0.85
                        is_trunk = True
                elif kind == K_BUSH:
                    if a * a + b * b < 1.0 - 0.3 * _noise(tu >> 1, tv >> 1, seed + 3):
                        sh = 0.65 + 0.45 * b + 0.3 * (nz - 0.5)
                elif kind == K_TARGET:
                    sh = _chair(a, b)
                if sh < 0.0:
                    continue
                if is_trunk:
                    cr, cg, cb = tr * sh, tg * sh, tb * sh
                else:
                    cr, cg, cb = br * sh, bg * sh, bb * sh
                ir = np.uint32(min(max(cr * keep + fr * fog, 0.0), 255.0))
                ig = np.uint32(min(max(cg * keep + fg * fog, 0.0), 255.0))
                ib = np.uint32(min(max(cb * keep + fb * fog, 0.0), 255.0))
                out[vv, uu] = ir | (ig << np.uint32(8)) | (ib << np.uint32(16))


__all__ = ["DRAW_DISTANCE", "DroneRenderer", "unit_ground_rows"]
