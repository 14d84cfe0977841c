"""The streamed top-down ground texture the renderer samples: asphalt, shoulders, lane
markings, grass and cast shadows, drawn tile by tile around the car into a bounded
toroidal mip pyramid.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
from numba import njit

from lnn_drive.envs.config import Appearance
from lnn_drive.envs.road import DS, Road

#: Lane markings: dashed centre line (dash, period) and solid edge lines (width), in m.
DASH, DASH_PERIOD, MARK_W = 3.0, 9.0, 0.15


def _periodic_noise(rng: np.random.Generator, n: int, sigma_px: float) -> np.ndarray:
    """Zero-mean, unit-std periodic noise of shape (n, n), low-pass with scale sigma_px."""
    white = rng.standard_normal((n, n))
    f = np.fft.fftfreq(n)
    g = np.exp(-2 * (np.pi * sigma_px) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    out = np.real(np.fft.ifft2(np.fft.fft2(white) * g))
    return out / (out.std() + 1e-9)


#: Side of the periodic grain table (texels).
GRAIN = 64


@functools.lru_cache(maxsize=8)
def ground_bases(
    look: Appearance, levels: int, n: int, res0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Periodic ground textures and texel grain per mip level (shared by environments in
    one process; they depend only on the preset, so they use a fixed seed).

    Returns:
        (bases uint8 (L, n, n, 4) RGBX, grain uint32 (L, GRAIN, GRAIN)): the grain is a
        brightness multiplier out of 256 that the renderer applies per texel, so asphalt,
        shoulders and grass all have a fine texture without per-tile work.
    """
    rng = np.random.default_rng(1234)
    bases = np.zeros((levels, n, n, 4), np.uint8)
    grain = np.empty((levels, GRAIN, GRAIN), np.uint32)
    g = np.asarray(look.ground, np.float32) * look.light
    for lv in range(levels):
        res = res0 * 2**lv
        big = _periodic_noise(rng, n, max(4.0 / res, 0.5))  # ~4 m blotches
        mid = _periodic_noise(rng, n, max(0.6 / res, 0.5))
        shade = 1.0 + (0.6 * big + 0.4 * mid) * look.ground_var / 100.0
        img = g[None, None, :] * shade[..., None]
        img[..., 0] += mid * look.ground_var * 0.3 * look.light
        if look.speckle:
            mask = rng.random((n, n)) < look.speckle_prob
            which = rng.integers(len(look.speckle), size=int(mask.sum()))
            cols = np.asarray(look.speckle, np.float32)[which] * look.light
            alpha = min(1.0, (0.08 / res) ** 2)  # a speckle covers less of a bigger texel
            img[mask] = (1 - alpha) * img[mask] + alpha * cols
        bases[lv, ..., :3] = np.clip(img, 0, 255).astype(np.uint8)
        amp = 7.0 * look.road_var / 2 ** (lv / 2)
        noise = _periodic_noise(rng, GRAIN, 0.6)
        noise = (noise - noise.min()) / (np.ptp(noise) + 1e-9)
        grain[lv] = np.round(256 - amp * noise).astype(np.uint32)
    bases.setflags(write=False)
    grain.setflags(write=False)
    return bases, grain


#: Centreline samples per chunk of the road's spatial index.
CHUNK = 16
#: Texture pyramid: finest resolution (m/texel) and preferred tile size per level (texels).
RES0 = 0.05
TILES = (256, 256, 256, 128, 64)


def texture_layout(extents: list[float], *, res0: float = RES0) -> tuple[int, tuple[int, ...]]:
    """Toroidal texture size and tile sizes that hold the ground the camera sees.

    A level of resolution ``res`` with tiles of ``t`` texels in an ``n``-texel texture can
    stream a view whose bounding box spans up to ``(n / t - 1) * t * res`` metres (one
    tile of slack for the view straddling tile borders).

    Args:
        extents: Diagonal (m) of the ground seen at each level (NaN: level unused).

    Returns:
        ``(n, tiles)``: the smallest texture size from 512 up and, per level, the
        preferred tile size of :data:`TILES` or a smaller one that fits.

    Raises:
        ValueError: the view is too large even for a 2048-texel texture.
    """
    for n in (512, 1024, 2048):
        tiles = []
        for lv, ext in enumerate(extents):
            res = res0 * 2**lv
            fit = [
                t
                for t in (256, 128, 64)
                if t <= TILES[lv] * n // 512 and (math.isnan(ext) or (n // t - 1) * t * res >= ext)
            ]
            if not fit:
                break
            tiles.append(fit[0])
        else:
            return n, tuple(tiles)
    raise ValueError(
        "the camera sees more ground than the streamed texture can hold "
        f"({max(e for e in extents if not math.isnan(e)):.0f} m); reduce env.view_distance, "
        "env.fov_deg or the resolution"
    )


class GroundTexture:
    """Top-down texture of the ground around the car, streamed in tiles.

    Each mip level ``l`` (resolution ``res0 * 2**l`` m/texel) is a toroidal ``n x n``
    texture: world texel ``(i, j)`` lives at ``(i mod n, j mod n)``, organised in
    square slots of ``tiles[l]`` texels tagged with the world tile they hold. Before a frame
    is drawn, :meth:`ensure` draws the tiles that the camera's view needs and the slots do
    not hold yet (road, shoulders, markings and shadows with anti-aliased
    ``cv2.fillPoly``). Memory is bounded by ``levels * n * n * 4`` bytes whatever the road
    length.

    Args:
        road: The road.
        shadows: World shadow polygons (M, 14, 2), see :func:`shadow_polygons`.
        look: Appearance.
        n, res0, tiles: Texture pyramid geometry (texture size, finest resolution m/texel,
            tile size in texels per level).
        reuse: A texture of an earlier road whose buffers this one takes over.
    """

    def __init__(
        self,
        road: Road,
        shadows: np.ndarray,
        look: Appearance,
        *,
        n: int = 512,
        res0: float = RES0,
        tiles: tuple[int, ...] = TILES,
        reuse: GroundTexture | None = None,
    ) -> None:
        self.levels, self.n, self.res0 = len(tiles), n, res0
        self.tiles = np.asarray(tiles, np.int64)
        self.slots = n // self.tiles
        self.res = res0 * 2.0 ** np.arange(self.levels)
        self.tile_size = self.res * self.tiles  # metres
        if reuse is not None and reuse.tex.shape == (self.levels, n, n, 4):
            # a new road: the old tiles are invalidated by the fresh tags below
            self.tex, self.lab = reuse.tex, reuse.lab
        else:
            self.tex = np.zeros((self.levels, n, n, 4), np.uint8)  # RGBX
            self.lab = np.zeros((self.levels, n, n), np.uint8)
        self.tex32 = self.tex.view(np.uint32).reshape(self.levels, n, n)  # packed view
        smax = int(self.slots.max())
        self.tags = np.full((self.levels, smax, smax, 2), np.iinfo(np.int64).min, np.int64)
        self.lab_tags = self.tags.copy()
        self.bases, self.grain = ground_bases(look, self.levels, n, res0)
        self.road = road
        self.look = look
        half = road.lane_width
        sh = half + road.shoulder_width
        bands = [  # lateral intervals (d0, d1): two shoulder strips, road, two edge lines, centre
            (half, sh),
            (-sh, -half),
            (-half, half),
            (half - 0.25 - MARK_W, half - 0.25),
            (-half + 0.25, -half + 0.25 + MARK_W),
            (-MARK_W / 2, MARK_W / 2),
        ]
        nx, ny = -np.sin(road.heading), np.cos(road.heading)
        # edges[band, side, sample, xy]
        self._edges = np.array(
            [[np.stack([road.x + d * nx, road.y + d * ny], 1) for d in band] for band in bands]
        )
        outer = np.stack([self._edges[0, 1], self._edges[1, 0]])  # outer shoulder edges (2, N, 2)
        npts = len(road.x)
        nchunk = (npts - 1) // CHUNK + 1
        pad = nchunk * CHUNK + 1 - npts
        ext = np.concatenate([outer, np.repeat(outer[:, -1:], pad, axis=1)], axis=1)
        body = ext[:, : nchunk * CHUNK].reshape(2, nchunk, CHUNK, 2)
        nxt = ext[:, CHUNK::CHUNK][:, :nchunk, None]  # first sample of the next chunk
        body = np.concatenate([body, nxt], axis=2)  # chunks overlap by one sample
        self._chunk_box = np.column_stack(
            [
                body[..., 0].min((0, 2)),
                body[..., 1].min((0, 2)),
                body[..., 0].max((0, 2)),
                body[..., 1].max((0, 2)),
            ]
        )
        # centre-line dashes: DASH m long every DASH_PERIOD m
        per, dl = int(round(DASH_PERIOD / DS)), int(round(DASH / DS))
        starts = np.arange(0, npts - dl, per)
        idx = starts[:, None] + np.arange(dl + 1)[None, :]
        left, right = self._edges[5, 0][idx], self._edges[5, 1][idx]
        self._dashes = np.concatenate([left, right[:, ::-1]], axis=1)  # (D, 2*(dl+1), 2)
        self._dash_box = np.concatenate(
            [self._dashes.min(axis=1), self._dashes.max(axis=1)], axis=1
        )
        light = look.light
        self._colours = [
            (*(float(c * light) for c in look.shoulder), 0.0),
            (*(float(c * light) for c in look.road), 0.0),
            (*(float(c * light) for c in look.marking), 0.0),
        ]
        self._shadows = np.asarray(shadows, np.float64).reshape(-1, 14, 2)
        self._shadow_box = np.concatenate(
            [self._shadows.min(axis=1), self._shadows.max(axis=1)], axis=1
        )
        self._bands = bands
        self._fades: list[tuple[float, np.ndarray]] = []
        self._fade_box = np.zeros((0, 4))
        self._fade_owner = np.zeros(0, np.int64)
        self.tiles_drawn = 0

    def fade_markings(self, stretches: np.ndarray) -> None:
        """Fade the lane markings of stretches of the road (call before any tile is drawn).

        Args:
            stretches: float64 (F, 3) rows ``(s0, s1, contrast)``: from arc length ``s0`` to
                ``s1`` (m) the markings keep ``contrast`` in [0, 1] of their contrast
                against the asphalt (0: missing; the label image then shows road).
        """
        road = self.road
        nx, ny = -np.sin(road.heading), np.cos(road.heading)
        fades, boxes, owner = [], [], []
        for s0, s1, contrast in np.asarray(stretches, np.float64).reshape(-1, 3):
            i0 = int(np.clip(s0 / DS, 0, len(road.x) - 1))
            i1 = int(np.clip(s1 / DS, i0 + 1, len(road.x) - 1))
            if i1 <= i0:
                continue
            sl = slice(i0, i1 + 1)
            polys = []
            for d0, d1 in self._bands[3:]:  # the two edge lines and the centre line
                # a margin beyond the paint covers the anti-aliased fringe
                a = np.stack(
                    [road.x[sl] + (d0 - 0.05) * nx[sl], road.y[sl] + (d0 - 0.05) * ny[sl]], 1
                )
                b = np.stack(
                    [road.x[sl] + (d1 + 0.05) * nx[sl], road.y[sl] + (d1 + 0.05) * ny[sl]], 1
                )
                polys.append(np.concatenate([a, b[::-1]]))
            polys = np.stack(polys)  # (3, P, 2)
            fades.append((float(contrast), polys))
            # bounding boxes of CHUNK-sample pieces, so that a tile is tested against the
            # stretch where it passes rather than against the whole stretch's box
            n = (polys.shape[1] // 2 - 1) // CHUNK + 1
            for c in range(n):
                j0, j1 = c * CHUNK, min((c + 1) * CHUNK + 1, polys.shape[1] // 2)
                piece = np.concatenate([polys[:, j0:j1], polys[:, -j1 : polys.shape[1] - j0]], 1)
                boxes.append([*piece.min(axis=(0, 1)), *piece.max(axis=(0, 1))])
                owner.append(len(fades) - 1)
        self._fades = fades
        self._fade_box = np.asarray(boxes, np.float64).reshape(-1, 4)
        self._fade_owner = np.asarray(owner, np.int64)

    def _paint_fades(
        self, img: np.ndarray, x0: float, y0: float, size: float, res: float, *, labels: bool
    ) -> None:
        """Paint asphalt over the faded markings crossing a tile (blended by contrast)."""
        t = img.shape[0]
        road_rgb = np.asarray(self._colours[1][:3], np.float32)
        for k in np.unique(self._fade_owner[self._hits(self._fade_box, x0, y0, size)]):
            contrast, polys = self._fades[k]
            q = np.round(((polys - (x0, y0)) / res - 0.5) * 16).astype(np.int32)  # (3, P, 2)
            if labels:
                if contrast == 0.0:
                    cv2.fillPoly(img, q, 2, cv2.LINE_8, 4)
                continue
            # the polygons' bounding box within the tile (fixed point: 4 fractional bits)
            lo = q.min(axis=(0, 1)) // 16 - 1
            hi = q.max(axis=(0, 1)) // 16 + 2
            c0, r0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
            c1, r1 = min(int(hi[0]), t), min(int(hi[1]), t)
            if c0 >= c1 or r0 >= r1:
                continue
            mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
            cv2.fillPoly(mask, q, 255, cv2.LINE_AA, 4, offset=(-c0 * 16, -r0 * 16))
            rows, cols = np.nonzero(mask)  # the thin strips only, not their whole box
            if len(rows) == 0:
                continue
            m = mask[rows, cols, None].astype(np.float32) * ((1.0 - contrast) / 255.0)
            rows, cols = rows + r0, cols + c0
            px = img[rows, cols, :3]
            img[rows, cols, :3] = np.round(px + (road_rgb - px) * m).astype(np.uint8)

    # -- drawing -------------------------------------------------------------------

    @staticmethod
    def _hits(box: np.ndarray, x0: float, y0: float, size: float) -> np.ndarray:
        return np.flatnonzero(
            (box[:, 2] > x0) & (box[:, 0] < x0 + size) & (box[:, 3] > y0) & (box[:, 1] < y0 + size)
        )

    def _road_polys(self, x0: float, y0: float, size: float, res: float):
        """Pixel polygons (shoulder, road, markings) of the road crossing a tile, in
        cv2 fixed point (4 fractional bits)."""
        pts, band, offs = _tile_polys(
            self._chunk_box, self._edges, self._dashes, self._dash_box, x0, y0, size, 16.0 / res
        )
        groups: tuple[list, list, list] = ([], [], [])
        for i in range(len(band)):
            groups[int(band[i])].append(pts[offs[i] : offs[i + 1]])
        return groups

    def draw_tile(self, level: int, ti: int, tj: int, *, labels: bool = False) -> None:
        """Draw world tile ``(ti, tj)`` of ``level`` into its slot (colour or labels)."""
        t = int(self.tiles[level])
        slots = int(self.slots[level])
        res = float(self.res[level])
        size = t * res
        x0, y0 = ti * size, tj * size
        sy, sx = (tj % slots) * t, (ti % slots) * t
        shoulder, road, marks = self._road_polys(x0, y0, size, res)
        if labels:
            img = np.ones((t, t), np.uint8)
            if road:
                cv2.fillPoly(img, road, 2, cv2.LINE_8, 4)
            if marks:
                cv2.fillPoly(img, marks, 3, cv2.LINE_8, 4)
            if self._fades:
                self._paint_fades(img, x0, y0, size, res, labels=True)
            self.lab[level, sy : sy + t, sx : sx + t] = img
            self.lab_tags[level, tj % slots, ti % slots] = (ti, tj)
            return
        # draw in place into the slot (a view of the texture)
        slot = self.tex[level, sy : sy + t, sx : sx + t]
        slot[...] = self.bases[level, sy : sy + t, sx : sx + t]
        c = self._colours
        # texels of the finest level are smaller than the pixels that show them: no need
        # for anti-aliasing there
        line = cv2.LINE_8 if level == 0 else cv2.LINE_AA
        if shoulder:
            cv2.fillPoly(slot, shoulder, c[0], line, 4)
            cv2.fillPoly(slot, road, c[1], line, 4)
        if marks:
            cv2.fillPoly(slot, marks, c[2], line, 4)
        if self._fades:
            self._paint_fades(slot, x0, y0, size, res, labels=False)
        if self.look.shadow > 0 and res < 0.5:  # shadows are sub-pixel on the farthest rows
            hit = self._hits(self._shadow_box, x0, y0, size)
            dark = int(round(255 * (1 - self.look.shadow)))
            for k in hit:  # shadows are convex; darken each one's bounding box of the slot
                p = (self._shadows[k] - (x0, y0)) / res - 0.5
                c0 = max(int(p[:, 0].min()) - 1, 0)
                r0 = max(int(p[:, 1].min()) - 1, 0)
                c1 = min(int(p[:, 0].max()) + 2, t)
                r1 = min(int(p[:, 1].max()) + 2, t)
                if c0 >= c1 or r0 >= r1:
                    continue
                mask = np.full((r1 - r0, c1 - c0), 255, np.uint8)
                q = np.round((p - (c0, r0)) * 16).astype(np.int32)
                cv2.fillConvexPoly(mask, q, dark, cv2.LINE_AA, 4)
                roi = slot[r0:r1, c0:c1]
                cv2.multiply(roi, cv2.merge([mask, mask, mask, mask]), dst=roi, scale=1 / 255)
        self.tags[level, tj % slots, ti % slots] = (ti, tj)
        self.tiles_drawn += 1

    def ensure(
        self, corners: np.ndarray, x: float, y: float, yaw: float, *, labels: bool = False
    ) -> None:
        """Draw the tiles the camera needs that their slots do not hold yet.

        Args:
            corners: (L, 4, 2) car-frame (forward, left) corners of the ground seen at each
                level; a level with no ground has NaN corners.
            x, y, yaw: Camera pose.
            labels: Stream the label texture instead of the colour texture.
        """
        tags = self.lab_tags if labels else self.tags
        missing = _missing_tiles(tags, corners, x, y, yaw, self.tile_size, self.slots)
        for lv, ti, tj in missing:
            self.draw_tile(lv, ti, tj, labels=labels)


@njit(cache=True)
def _missing_tiles(tags, corners, x, y, yaw, tile_size, slots):  # pragma: no cover - numba
    """Tiles (level, ti, tj) overlapping each level's view rectangle whose slots hold
    another tile. The view of a level is the rectangle ``corners`` (car frame, forward x
    left); a tile overlaps it unless one of the two frames' axes separates them."""
    out = [(0, 0, 0)]
    out.pop()
    c = math.cos(yaw)
    s = math.sin(yaw)
    for lv in range(corners.shape[0]):
        if math.isnan(corners[lv, 0, 0]):
            continue
        x0 = 1e300
        x1 = -1e300
        y0 = 1e300
        y1 = -1e300
        f0 = 1e300
        f1 = -1e300
        l0 = 1e300
        l1 = -1e300
        for k in range(4):
            f = corners[lv, k, 0]
            l = corners[lv, k, 1]
            f0 = min(f0, f)
            f1 = max(f1, f)
            l0 = min(l0, l)
            l1 = max(l1, l)
            wx = x + f * c - l * s
            wy = y + f * s + l * c
            x0 = min(x0, wx)
            x1 = max(x1, wx)
            y0 = min(y0, wy)
            y1 = max(y1, wy)
        ts = tile_size[lv]
        ns = slots[lv]
        i0 = int(math.floor(x0 / ts))
        i1 = int(math.floor(x1 / ts))
        j0 = int(math.floor(y0 / ts))
        j1 = int(math.floor(y1 / ts))
        for tj in range(j0, j1 + 1):
            for ti in range(i0, i1 + 1):
                # the tile's corners in the car frame, against the view rectangle
                tf0 = 1e300
                tf1 = -1e300
                tl0 = 1e300
                tl1 = -1e300
                for cx in range(2):
                    for cy in range(2):
                        dx = (ti + cx) * ts - x
                        dy = (tj + cy) * ts - y
                        f = dx * c + dy * s
                        l = -dx * s + dy * c
                        tf0 = min(tf0, f)
                        tf1 = max(tf1, f)
                        tl0 = min(tl0, l)
                        tl1 = max(tl1, l)
                if tf1 < f0 or tf0 > f1 or tl1 < l0 or tl0 > l1:
                    continue
                a = tj % ns
                b = ti % ns
                if tags[lv, a, b, 0] != ti or tags[lv, a, b, 1] != tj:
                    out.append((lv, ti, tj))
    return out


@njit(cache=True)
def _tile_polys(chunk_box, edges, dashes, dash_box, x0, y0, size, scale):  # pragma: no cover
    """Road polygons crossing the tile at (x0, y0) of side ``size`` m, in cv2 fixed point.

    Returns:
        (points int32 (M, 2), group (P,) 0 shoulder 1 road 2 marking, offsets (P + 1,)).
    """
    x1 = x0 + size
    y1 = y0 + size
    nchunk = chunk_box.shape[0]
    npts = edges.shape[2]
    runs = []
    c = 0
    while c < nchunk:
        b = chunk_box[c]
        if b[2] > x0 and b[0] < x1 and b[3] > y0 and b[1] < y1:
            start = c
            while c + 1 < nchunk:
                b = chunk_box[c + 1]
                if b[2] > x0 and b[0] < x1 and b[3] > y0 and b[1] < y1:
                    c += 1
                else:
                    break
            runs.append((max(start * CHUNK - 1, 0), min((c + 1) * CHUNK + 2, npts)))
        c += 1
    dash_hit = []
    for k in range(dash_box.shape[0]):
        b = dash_box[k]
        if b[2] > x0 and b[0] < x1 and b[3] > y0 and b[1] < y1:
            dash_hit.append(k)
    total = 0
    for a, e in runs:
        total += 5 * 2 * (e - a)
    nd = dashes.shape[1]
    total += len(dash_hit) * nd
    npoly = 5 * len(runs) + len(dash_hit)
    pts = np.empty((total, 2), np.int32)
    band = np.empty(npoly, np.int64)
    offs = np.empty(npoly + 1, np.int64)
    m = 0
    q = 0
    offs[0] = 0
    group = (0, 0, 1, 2, 2)  # shoulders, road, markings
    for bd in range(5):
        for a, e in runs:
            for i in range(a, e):
                pts[m, 0] = int(round((edges[bd, 0, i, 0] - x0) * scale - 8.0))
                pts[m, 1] = int(round((edges[bd, 0, i, 1] - y0) * scale - 8.0))
                m += 1
            for i in range(e - 1, a - 1, -1):
                pts[m, 0] = int(round((edges[bd, 1, i, 0] - x0) * scale - 8.0))
                pts[m, 1] = int(round((edges[bd, 1, i, 1] - y0) * scale - 8.0))
                m += 1
            band[q] = group[bd]
            q += 1
            offs[q] = m
    for k in dash_hit:
        for i in range(nd):
            pts[m, 0] = int(round((dashes[k, i, 0] - x0) * scale - 8.0))
            pts[m, 1] = int(round((dashes[k, i, 1] - y0) * scale - 8.0))
            m += 1
        band[q] = 2
        q += 1
        offs[q] = m
    return pts, band, offs
