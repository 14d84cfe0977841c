"""The camera renderer: a pinhole camera over a flat ground plane.

The ground is a plane, so each image row sees the ground at one forward distance and the
ground point of a pixel moves linearly along the row: the ground image is a homography of
the top-down texture (:class:`~lnn_drive.envs.ground.GroundTexture`), evaluated by a numba
kernel that walks each row with two additions per pixel and picks a mip level per row.
Rows above the horizon (or beyond the view distance) come from a 360-degree sky panorama
with a hill silhouette that scrolls with the car's heading. Roadside objects are
billboards drawn back to front (painter's algorithm) over the ground, with distance fog.
The same kernel writes the semantic label image (:data:`~lnn_drive.envs.config.LABEL_CLASSES`).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit

from lnn_drive.envs.config import OBJECT_KINDS, Appearance
from lnn_drive.envs.ground import GroundTexture
from lnn_drive.envs.scenery import N_OBJ_COLS, OB, OG, OH, OKIND, OR, OSEED, OW, OX, OY

# Rows of the per-row table.
R_OK, R_LEVEL, R_G, R_LAT0, R_DLAT, R_FOG = range(6)
#: Extra object-table rows to draw (vehicles), or none.
Extra = np.ndarray | None
#: Extra camera (pitch, roll) in rad, or none.
Tilt = tuple[float, float] | None
#: Objects farther than this (m) are not drawn (they are sub-pixel and fogged anyway).
OBJECT_VIEW = 160.0
#: Objects nearer than this (m, forward) are not drawn (they are beside or behind the camera).
OBJECT_NEAR = 1.0


@dataclass(frozen=True)
class Camera:
    """Pinhole camera looking forward from the car.

    Attributes:
        height, width: Image size (pixels).
        fov_deg: Horizontal field of view.
        cam_height: Height above the ground (m).
        pitch_deg: Downward pitch.
    """

    height: int
    width: int
    fov_deg: float
    cam_height: float
    pitch_deg: float

    @property
    def focal(self) -> float:
        """Focal length in pixels."""
        return (self.width / 2) / math.tan(math.radians(self.fov_deg) / 2)

    @property
    def centre(self) -> tuple[float, float]:
        return self.width / 2, self.height / 2

    @property
    def pitch(self) -> float:
        return math.radians(self.pitch_deg)

    def row_table(
        self, *, view_distance: float, res0: float, levels: int, fog_distance: float
    ) -> np.ndarray:
        """Per-row ground geometry, float64 (6, H): ``R_OK`` (1 where the row sees ground
        within the view distance), ``R_LEVEL`` (mip level), ``R_G`` (forward distance m),
        ``R_LAT0`` (lateral position m of column 0, left positive), ``R_DLAT`` (lateral step
        per column), ``R_FOG`` (fog blend factor)."""
        h, f = self.height, self.focal
        cx, cy = self.centre
        th = self.pitch
        out = np.zeros((6, h))

        def ground(v: float) -> tuple[float, float]:
            yn = (v - cy) / f
            up = -math.sin(th) - yn * math.cos(th)
            fwd = math.cos(th) - yn * math.sin(th)
            if up >= -1e-9:
                return math.inf, math.inf
            t = self.cam_height / -up
            return t * fwd, t

        for v in range(h):
            g, t = ground(v + 0.5)
            if not g <= view_distance:
                continue
            g_near, _ = ground(v + 1.0)
            g_far, _ = ground(v)
            depth = abs(min(g_far, 10 * view_distance) - g_near)
            lat = t / f
            level = math.log2(max(math.sqrt(lat * depth), 1e-9) / res0)
            out[R_OK, v] = 1
            out[R_LEVEL, v] = min(max(round(level - 0.25), 0), levels - 1)
            out[R_G, v] = g
            out[R_LAT0, v] = -t * (0.5 - cx) / f
            out[R_DLAT, v] = -t / f
            out[R_FOG, v] = 1 - math.exp(-g / fog_distance)
        return out

    def level_corners(self, rows: np.ndarray, levels: int, res: np.ndarray) -> np.ndarray:
        """Car-frame (forward, left) corners (L, 4, 2) of the ground each level shows, with
        a margin of two texels; NaN for levels no row uses."""
        w = self.width
        out = np.full((levels, 4, 2), np.nan)
        for lv in range(levels):
            sel = np.flatnonzero((rows[R_OK] > 0) & (rows[R_LEVEL] == lv))
            if len(sel) == 0:
                continue
            m = 2 * res[lv]
            g = rows[R_G, sel]
            gmin, gmax = g.min() - m, g.max() + m
            far = sel[np.argmax(g)]
            lat_max = (
                max(abs(rows[R_LAT0, far]), abs(rows[R_LAT0, far] + rows[R_DLAT, far] * w)) + m
            )
            out[lv] = [(gmin, lat_max), (gmin, -lat_max), (gmax, lat_max), (gmax, -lat_max)]
        return out


def view_extents(corners: np.ndarray) -> list[float]:
    """Diagonal (m) of the bounding box of the ground seen at each level (NaN: unused)."""
    return [
        math.nan if np.isnan(c).any() else math.hypot(np.ptp(c[:, 0]), np.ptp(c[:, 1]))
        for c in corners
    ]


@functools.lru_cache(maxsize=32)
def camera_tables(
    cam: Camera, view_distance: float, res0: float, levels: int, fog_distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """The camera's row table and per-level ground corners (cached: they depend only on
    the camera and the texture pyramid)."""
    rows = cam.row_table(
        view_distance=view_distance, res0=res0, levels=levels, fog_distance=fog_distance
    )
    corners = cam.level_corners(rows, levels, res0 * 2.0 ** np.arange(levels))
    rows.setflags(write=False)
    corners.setflags(write=False)
    return rows, corners


def _mix(a, b, t):
    return tuple(float((1 - t) * x + t * y) for x, y in zip(a, b, strict=True))


def sky_panorama(
    cam: Camera, rows: np.ndarray, look: Appearance, rng: np.random.Generator, view_distance: float
) -> tuple[np.ndarray, np.ndarray]:
    """A 360-degree panorama for the rows that show no rendered ground: sky gradient, a hill
    and treeline silhouette (random per road), and far ground fading into the haze.

    Returns:
        (rgb uint8 (V, P, 3), labels uint8 (V, P)) with V = the first ground row and
        P = round(2 pi focal) columns, column c facing azimuth c / focal.
    """
    f = cam.focal
    cx, cy = cam.centre
    ok = np.flatnonzero(rows[R_OK] > 0)
    nv = int(ok.min()) if len(ok) else cam.height
    p = max(int(round(2 * math.pi * f)), 8)
    th = cam.pitch
    ang = np.arange(p) * 2 * math.pi / p
    hill = np.zeros(p)
    for k in (1, 2, 3, 5, 8):
        hill += rng.uniform(0.2, 1.0) / k * np.sin(k * ang + rng.uniform(0, 2 * math.pi))
    hill = np.radians(0.8) + np.radians(1.6) * (hill - hill.min()) / (np.ptp(hill) + 1e-9)
    tree = np.radians(0.6) * np.clip(
        np.sin(23 * ang + rng.uniform(0, 6)) + 0.6 * np.sin(71 * ang + rng.uniform(0, 6)), 0, None
    )
    top = hill + tree
    fog = 1 - math.exp(-view_distance / look.fog_distance)
    far_ground = np.asarray(_mix(np.asarray(look.ground) * look.light * 0.95, look.fog_color, fog))
    yn = (np.arange(nv) + 0.5 - cy) / f
    up = -math.sin(th) - yn * math.cos(th)
    fwd = math.cos(th) - yn * math.sin(th)
    elev = np.arctan2(up, fwd)[:, None]  # (V, 1)
    t = np.clip(elev / math.radians(25), 0, 1) ** 0.6
    sky = (1 - t)[..., None] * np.asarray(look.sky_horizon) + t[..., None] * np.asarray(
        look.sky_top
    )
    shade = 0.85 + 0.15 * np.clip(elev / (top[None, :] + 1e-9), 0, 1)
    hills = shade[..., None] * np.asarray(look.hills, np.float64)
    is_hill = (elev >= 0) & (elev < top[None, :])
    is_ground = np.broadcast_to(elev < 0, is_hill.shape)
    img = np.where(is_hill[..., None], hills, sky)
    img = np.where(is_ground[..., None], far_ground, img)
    rgb = np.clip(img, 0, 255).astype(np.uint8)
    lab = (is_hill | is_ground).astype(np.uint8)  # hills and far ground are "ground"
    return rgb, lab


class Renderer:
    """Draws camera frames and label images of one road.

    Args:
        cam: The camera.
        ground: The streamed ground texture of the road.
        objs: Object table (see :func:`~lnn_drive.envs.scenery.generate_objects`).
        look: Appearance.
        rng: Randomness for the panorama.
        view_distance: Ground drawn up to this distance (m).
    """

    def __init__(
        self,
        cam: Camera,
        ground: GroundTexture,
        objs: np.ndarray,
        look: Appearance,
        rng: np.random.Generator,
        *,
        view_distance: float,
    ) -> None:
        self.cam = cam
        self.ground = ground
        self.objs = np.ascontiguousarray(objs, np.float64).reshape(-1, N_OBJ_COLS)
        self.obj_s = self.objs[:, 2].tolist()
        self.rows, self.corners = camera_tables(
            cam, view_distance, ground.res0, ground.levels, look.fog_distance
        )
        self.pano, self.pano_lab = sky_panorama(cam, self.rows, look, rng, view_distance)
        self.look = look
        self.fog_rgb = np.asarray(look.fog_color, np.float64)
        f, (cx, cy) = cam.focal, cam.centre
        self._k = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1]])  # camera intrinsics
        self._k_inv = np.linalg.inv(self._k)
        self.window_rgb = np.asarray(look.window, np.float64)
        self.trunk_rgb = np.asarray(look.trunk, np.float64)
        self.roof_rgb = np.asarray(look.roof, np.float64)
        self._check_streaming()
        self._buf = np.zeros((cam.height, cam.width, 4), np.uint8)
        self._buf32 = self._buf.view(np.uint32).reshape(cam.height, cam.width)
        self._nolab = np.empty((1, 1), np.uint8)
        self._nobuf = np.empty((1, 1), np.uint32)
        pano4 = np.zeros((*self.pano.shape[:2], 4), np.uint8)
        pano4[..., :3] = self.pano
        self.pano32 = pano4.view(np.uint32).reshape(self.pano.shape[:2])

    def _check_streaming(self) -> None:
        g = self.ground
        ext = view_extents(self.corners)
        for lv in range(g.levels):
            if not math.isnan(ext[lv]) and ext[lv] > (g.slots[lv] - 1) * g.tile_size[lv]:
                raise AssertionError(f"texture level {lv} cannot hold {ext[lv]:.0f} m of ground")

    def _object_range(self, s: float) -> tuple[int, int]:
        return bisect.bisect_left(self.obj_s, s - 30.0), bisect.bisect_left(
            self.obj_s, s + OBJECT_VIEW + 30.0
        )

    def render(
        self, x: float, y: float, yaw: float, s: float, *, extra: Extra = None, tilt: Tilt = None
    ) -> np.ndarray:
        """RGB uint8 (H, W, 3) frame from camera pose ``(x, y, yaw)`` at arc length ``s``.

        Args:
            extra: More object-table rows to draw (vehicles), depth-sorted with the
                roadside objects.
            tilt: Extra camera ``(pitch, roll)`` (rad): the frame is warped by the
                rotation's homography (exact for a rotation about the camera centre).
        """
        self.ground.ensure(self.corners, x, y, yaw)
        self._draw(self._buf32, self._nolab, False, x, y, yaw, s, extra)
        rgb = cv2.cvtColor(self._buf, cv2.COLOR_RGBA2RGB)
        return rgb if tilt is None else self._tilt(rgb, tilt, cv2.INTER_LINEAR)

    def render_labels(
        self, x: float, y: float, yaw: float, s: float, *, extra: Extra = None, tilt: Tilt = None
    ) -> np.ndarray:
        """Semantic labels uint8 (H, W) for the same pose (classes in ``LABEL_CLASSES``)."""
        self.ground.ensure(self.corners, x, y, yaw, labels=True)
        lab = np.empty((self.cam.height, self.cam.width), np.uint8)
        self._draw(self._nobuf, lab, True, x, y, yaw, s, extra)
        return lab if tilt is None else self._tilt(lab, tilt, cv2.INTER_NEAREST)

    def _tilt(self, img: np.ndarray, tilt: tuple[float, float], interp: int) -> np.ndarray:
        pitch, roll = tilt
        cp, sp, cr, sr = math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])  # about the camera's x (right)
        rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])  # about its optical axis
        hom = self._k @ rz @ rx @ self._k_inv
        h, w = img.shape[:2]
        return cv2.warpPerspective(img, hom, (w, h), flags=interp, borderMode=cv2.BORDER_REPLICATE)

    def _draw(self, out, lab, labels, x, y, yaw, s, extra=None) -> None:
        cam, look, g = self.cam, self.look, self.ground
        cx, cy = cam.centre
        _sky_and_ground_pass(
            out, lab, labels, self.rows, g.tex32, g.lab, g.grain, g.res, self.pano32,
            self.pano_lab, x, y, yaw, cam.focal, cx, self.fog_rgb,
        )  # fmt: skip
        i0, i1 = self._object_range(s)
        objs = self.objs[i0:i1]
        if extra is not None and len(extra):
            objs = np.concatenate([objs, extra])
        _object_pass(
            out, lab, labels, objs, x, y, yaw, cam.focal, cx, cy, cam.cam_height,
            cam.pitch, look.fog_distance, look.light, look.crown_sparse, look.windows_lit,
            self.fog_rgb, self.trunk_rgb, self.roof_rgb, self.window_rgb,
        )  # fmt: skip


@njit(cache=True, fastmath=True)
def _sky_and_ground_pass(
    out, lab, labels, rows, tex, ltex, grain, res, pano, pano_lab, x, y, yaw, focal, cx, fog_rgb
):  # pragma: no cover - numba
    """Pass 1: every row, from the sky panorama (rows that see no ground) or the ground
    texture (a homography walked with two additions per pixel, fog blended on the packed
    texel).

    Args:
        out: uint32 (H, W) packed RGBX frame written when ``labels`` is False.
        lab: uint8 (H, W) label image written when ``labels`` is True.
        labels: Draw labels instead of colours.
        rows: The camera's row table (see :meth:`Camera.row_table`).
        tex, ltex: Packed colour texture uint32 (L, n, n) and label texture uint8 (L, n, n).
        grain: uint32 (L, G, G) per-texel brightness multipliers out of 256.
        res: (L,) texel size per mip level (m).
        pano, pano_lab: Sky panorama, packed uint32 (V, P) and labels uint8 (V, P).
        x, y, yaw: Camera pose (m, m, rad).
        focal, cx: Focal length and principal point column (pixels).
        fog_rgb: float64 (3,) fog colour.
    """
    h = rows.shape[1]
    w = lab.shape[1] if labels else out.shape[1]
    c = math.cos(yaw)
    s = math.sin(yaw)
    n = ltex.shape[1] if labels else tex.shape[1]
    mask = n - 1
    offs = float(n) * 1048576.0
    m_rb = np.uint32(0xFF00FF)
    m_g = np.uint32(0xFF00)
    npano = pano.shape[1]
    col0 = (int(math.floor(yaw * focal)) + int(cx)) % npano
    fr = fog_rgb[0]
    fg = fog_rgb[1]
    fb = fog_rgb[2]
    for v in range(h):
        if rows[R_OK, v] == 0.0:
            if v < pano.shape[0]:
                col = col0
                for u in range(w):
                    if labels:
                        lab[v, u] = pano_lab[v, col]
                    else:
                        out[v, u] = pano[v, col]
                    col -= 1
                    if col < 0:
                        col += npano
            continue
        lv = int(rows[R_LEVEL, v])
        inv = 1.0 / res[lv]
        g = rows[R_G, v]
        lat0 = rows[R_LAT0, v]
        dlat = rows[R_DLAT, v]
        # texel coordinates, shifted by a multiple of the texture size so that they stay
        # positive and truncation is floor
        gx = (x + g * c - lat0 * s) * inv + offs
        gy = (y + g * s + lat0 * c) * inv + offs
        dx = -dlat * s * inv
        dy = dlat * c * inv
        if labels:
            lt = ltex[lv]
            for u in range(w):
                lab[v, u] = lt[int(gy + u * dy) & mask, int(gx + u * dx) & mask]
        else:
            tl = tex[lv]
            fog = rows[R_FOG, v]
            # blend towards the fog colour on the packed RGBX texel: red and blue in one
            # multiply, green in another (no carries: every channel stays below 2^16)
            k = np.uint32(int(256.0 * (1.0 - fog) + 0.5))
            arb = np.uint32(int(fr * fog * 256.0 + 128.0) + (int(fb * fog * 256.0 + 128.0) << 16))
            ag = np.uint32(int(fg * fog * 256.0 + 128.0) << 8)
            gl = grain[lv]
            gm = np.int64(grain.shape[1] - 1)
            for u in range(w):
                iy = np.int64(gy + u * dy)
                ix = np.int64(gx + u * dx)
                px = tl[iy & mask, ix & mask]
                kk = (k * gl[iy & gm, ix & gm]) >> 8
                rb = (((px & m_rb) * kk + arb) >> 8) & m_rb
                gg = (((px & m_g) * kk + ag) >> 8) & m_g
                out[v, u] = rb | gg


@njit(cache=True, inline="always")
def _hash(a, b, c):  # pragma: no cover - numba
    h = np.uint32(a * 374761393 + b * 668265263 + c * 1274126177)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
    return float((h ^ (h >> np.uint32(16))) & np.uint32(0xFFFF)) * (1.0 / 65536.0)


KIND_TREE, KIND_CONIFER, KIND_BUSH, KIND_POLE, KIND_BUILDING = range(len(OBJECT_KINDS))
KIND_VEHICLE = len(OBJECT_KINDS)  # lnn_drive.envs.traffic


@njit(cache=True, inline="always")
def _row_half_width(kind, b, ow):  # pragma: no cover - numba
    """Half-width of an object's silhouette on the row at relative height ``b`` (0 base,
    1 top), in units of its half-width, so that the pixel loop covers only columns the
    shape can occupy."""
    if kind == KIND_TREE:
        rb0 = (b - 0.62) / 0.38
        ah = math.sqrt(1.0 - rb0 * rb0) if abs(rb0) < 1.0 else 0.0
        if b < 0.55:
            ah = max(ah, 0.3 / ow)
    elif kind == KIND_CONIFER:
        ah = (1.0 - b) / 0.9 if b > 0.1 else 0.1
    elif kind == KIND_BUSH:
        ah = math.sqrt(max(1.0 - b * b, 0.0))
    elif kind == KIND_BUILDING and b >= 0.8:
        ah = 1.0 - 0.35 * (b - 0.8) / 0.2
    elif kind == KIND_VEHICLE and b >= 0.55:
        ah = 0.8 - 0.15 * (b - 0.55) / 0.45  # the cabin
    else:
        ah = 1.0
    return ah


@njit(cache=True, fastmath=True)
def _object_pass(
    out,
    lab,
    labels,
    objs,
    x,
    y,
    yaw,
    focal,
    cx,
    cy,
    cam_height,
    pitch,
    fog_distance,
    light,
    crown_sparse,
    windows_lit,
    fog_rgb,
    trunk,
    roof,
    window,
):  # pragma: no cover - numba
    """Pass 2: the objects as billboards over the ground, back to front (painter's
    algorithm), with distance fog.

    Args:
        out, lab, labels: As for :func:`_sky_and_ground_pass`.
        objs: Object table rows to draw (see :mod:`lnn_drive.envs.scenery`).
        x, y, yaw: Camera pose (m, m, rad).
        focal, cx, cy: Focal length and principal point (pixels).
        cam_height, pitch: Camera height (m) and downward pitch (rad).
        fog_distance: Fog scale (m); ``fog_rgb`` float64 (3,) its colour.
        light: Brightness multiplier; ``crown_sparse`` fraction of crown pixels left out;
            ``windows_lit`` windows glow.
        trunk, roof, window: float64 (3,) colours.
    """
    m = objs.shape[0]
    if m == 0:
        return
    h = lab.shape[0] if labels else out.shape[0]
    w = lab.shape[1] if labels else out.shape[1]
    c = math.cos(yaw)
    s = math.sin(yaw)
    f = focal
    fr = fog_rgb[0]
    fg = fog_rgb[1]
    fb = fog_rgb[2]
    cth = math.cos(pitch)
    sth = math.sin(pitch)
    camh = cam_height
    depth = np.empty(m)
    for k in range(m):
        ox = objs[k, OX] - x
        oy = objs[k, OY] - y
        depth[k] = ox * c + oy * s
    order = np.argsort(-depth)
    for q in range(m):
        k = order[q]
        fwd = depth[k]
        if fwd < OBJECT_NEAR or fwd > OBJECT_VIEW:
            continue
        ox = objs[k, OX] - x
        oy = objs[k, OY] - y
        lat = -ox * s + oy * c
        ow = objs[k, OW]
        oh = objs[k, OH]
        kind = int(objs[k, OKIND])
        seed = int(objs[k, OSEED])
        # projection of the object's base and top (camera looks down by the pitch)
        zb = fwd * cth + camh * sth
        yb = -fwd * sth + camh * cth
        zt = fwd * cth - (oh - camh) * sth
        yt = -fwd * sth - (oh - camh) * cth
        if zb <= 0.1 or zt <= 0.1:
            continue
        vb = cy + f * yb / zb
        vt = cy + f * yt / zt
        zm = 0.5 * (zb + zt)
        uc = cx + f * (-lat) / zm
        hw = f * 0.5 * ow / zm
        u0 = max(int(math.floor(uc - hw)), 0)
        u1 = min(int(math.ceil(uc + hw)), w)
        v0 = max(int(math.floor(vt)), 0)
        v1 = min(int(math.ceil(vb)), h)
        if u0 >= u1 or v0 >= v1:
            continue
        fog = 1.0 - math.exp(-fwd / fog_distance)
        r0 = objs[k, OR] * light
        g0 = objs[k, OG] * light
        b0 = objs[k, OB] * light
        span = max(vb - vt, 1e-6)
        inv_hw = 1.0 / hw
        inv_span = 1.0 / span
        # texture coordinates in metres so that the grain does not scale with distance
        for vv in range(v0, v1):
            b = (vb - (vv + 0.5)) * inv_span  # 0 at the base, 1 at the top
            if b < 0.0 or b > 1.0:
                continue
            ah = _row_half_width(kind, b, ow)
            if ah <= 0.0:
                continue
            ua = max(int(math.floor(uc - ah * hw)), u0)
            ub = min(int(math.ceil(uc + ah * hw)), u1)
            tv = int(b * oh * 4.0)
            for uu in range(ua, ub):
                a = (uu + 0.5 - uc) * inv_hw  # -1 left edge .. 1 right edge
                if a < -1.0 or a > 1.0:
                    continue
                tu = int((a + 1.0) * ow * 4.0)
                # the colour of this kind of object here (cr < 0: not part of it), written
                # out in the pixel loop: as a function returning a tuple it ran 5x slower
                nz = _hash(tu, tv, seed)
                cr = -1.0
                cg = 0.0
                cb = 0.0
                glow = False
                if kind == KIND_TREE:
                    ta = 0.15 / (0.5 * ow)
                    rb = (b - 0.62) / 0.38
                    rr = a * a + rb * rb
                    if rr < 1.0 - 0.3 * _hash(tu >> 1, tv >> 1, seed + 1):
                        if (
                            crown_sparse > 0.0
                            and _hash(tu, tv, seed + 7) < crown_sparse
                            and abs(a) > ta
                        ):
                            pass
                        else:
                            sh = 0.7 + 0.35 * (0.5 + 0.5 * rb) + 0.25 * (nz - 0.5) - 0.15 * a
                            cr, cg, cb = r0 * sh, g0 * sh, b0 * sh
                    if cr < 0.0 and abs(a) < ta and b < 0.55:
                        sh = 0.85 + 0.2 * (nz - 0.5)
                        cr, cg, cb = (
                            trunk[0] * light * sh,
                            trunk[1] * light * sh,
                            trunk[2] * light * sh,
                        )
                elif kind == KIND_CONIFER:
                    if b > 0.1 and abs(a) < (1.0 - b) / 0.9 * (0.85 + 0.15 * _hash(0, tv, seed)):
                        tier = b * oh / 1.2
                        tier -= math.floor(tier)
                        sh = 0.65 + 0.45 * tier + 0.2 * (nz - 0.5) - 0.1 * a
                        cr, cg, cb = r0 * sh, g0 * sh, b0 * sh
                    elif b <= 0.1 and abs(a) < 0.1:
                        cr, cg, cb = trunk[0] * light, trunk[1] * light, trunk[2] * light
                elif kind == KIND_BUSH:
                    if a * a + b * b < 1.0 - 0.35 * _hash(tu >> 1, tv >> 1, seed + 3):
                        sh = 0.7 + 0.4 * b + 0.3 * (nz - 0.5) - 0.1 * a
                        cr, cg, cb = r0 * sh, g0 * sh, b0 * sh
                elif kind == KIND_POLE:
                    sh = 1.05 - 0.35 * (a + 1.0) * 0.5
                    cr, cg, cb = r0 * sh, g0 * sh, b0 * sh
                elif kind == KIND_VEHICLE:
                    if b < 0.18 and abs(a) > 0.55:  # wheels
                        cr, cg, cb = 25.0 * light, 25.0 * light, 25.0 * light
                    elif b < 0.18:  # under the body
                        cr, cg, cb = 45.0 * light, 45.0 * light, 45.0 * light
                    elif 0.32 < b < 0.42 and abs(a) > 0.72:  # lamps
                        cr, cg, cb = 235.0 * light, 150.0 * light, 50.0 * light
                    elif 0.6 < b < 0.9 and abs(a) < 0.7:  # windows
                        cr, cg, cb = 45.0 * light, 55.0 * light, 65.0 * light
                    else:
                        sh = 0.95 + 0.08 * (nz - 0.5) - (0.12 if b > 0.55 else 0.0)
                        cr, cg, cb = r0 * sh, g0 * sh, b0 * sh
                else:  # building
                    wall_top = 0.8
                    if b < wall_top:
                        nw = max(2.0, math.floor(ow / 3.0))
                        nf = max(1.0, math.floor(oh * wall_top / 3.0))
                        fu = (a + 1.0) * 0.5 * nw
                        fu -= math.floor(fu)
                        fv = b / wall_top * nf
                        fv -= math.floor(fv)
                        if 0.3 < fu < 0.7 and 0.35 < fv < 0.75 and b > 0.12:
                            if windows_lit:
                                cr, cg, cb = window[0], window[1], window[2]
                                glow = True
                            else:
                                cr, cg, cb = window[0] * light, window[1] * light, window[2] * light
                        else:
                            sh = 0.92 + 0.1 * (nz - 0.5)
                            cr, cg, cb = r0 * sh, g0 * sh, b0 * sh
                    elif abs(a) < 1.0 - 0.35 * (b - wall_top) / (1.0 - wall_top):
                        sh = 0.9 + 0.1 * (nz - 0.5)
                        cr, cg, cb = (
                            roof[0] * light * sh,
                            roof[1] * light * sh,
                            roof[2] * light * sh,
                        )
                if cr < 0.0:
                    continue
                if labels:
                    lab[vv, uu] = 4
                else:
                    ff = fog * 0.5 if glow else fog
                    cr = cr * (1 - ff) + fr * ff
                    cg = cg * (1 - ff) + fg * ff
                    cb = cb * (1 - ff) + fb * ff
                    ir = np.uint32(min(max(cr, 0.0), 255.0))
                    ig = np.uint32(min(max(cg, 0.0), 255.0))
                    ib = np.uint32(min(max(cb, 0.0), 255.0))
                    out[vv, uu] = ir | (ig << 8) | (ib << 16)
