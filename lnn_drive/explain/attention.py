"""Where attention goes, as numbers: the share of saliency mass on semantic regions.

Regions come from the simulator's label images (``env.unwrapped.render_labels()``, classes
``lnn_drive.envs.LABEL_CLASSES``): *road* (road surface and lane markings), *objects*
(roadside objects), *sky*, *ground* (off-road ground), and the *horizon* band, the rows
within ``band`` x frame height of the horizon line. The class regions partition the frame;
the horizon band overlaps them.

Each share is reported with the region's *area* share, so that ``lift = share / area``
says how much more saliency a region gets than a uniform map would give it (lift 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "REGIONS",
    "AttentionShares",
    "attention_shares",
    "horizon_rows",
    "labels_to_model",
    "shares_table",
]

#: The contract's label classes (``lnn_drive.envs.LABEL_CLASSES``).
DEFAULT_LABEL_CLASSES: dict[int, str] = {
    0: "sky",
    1: "ground",
    2: "road",
    3: "marking",
    4: "object",
}

#: Reported regions, in table order.
REGIONS: tuple[str, ...] = ("road", "horizon", "objects", "sky", "ground")


def _label_ids() -> dict[str, int]:
    from lnn_drive.envs.config import LABEL_CLASSES

    return {name: int(i) for i, name in LABEL_CLASSES.items()}


def labels_to_model(labels: np.ndarray, preprocess) -> np.ndarray:
    """Map camera-size label images through a policy's preprocessing geometry (same crop,
    nearest-neighbour resize) so they line up with saliency maps.

    Args:
        labels: (N, H, W) or (H, W) uint8 label images at camera size.
        preprocess: A :class:`lnn_drive.data.preprocess.Preprocess`.

    Returns:
        (N, height, width) uint8.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.ndim != 3:
        raise ValueError(f"labels: expected (N, H, W) label images, got shape {labels.shape}")
    n, h, w = labels.shape
    ch, cw = preprocess._cropped_size(h, w)
    out = np.empty((n, preprocess.height, preprocess.width), np.uint8)
    for i in range(n):
        crop = labels[
            i,
            preprocess.crop_top : preprocess.crop_top + ch,
            preprocess.crop_left : preprocess.crop_left + cw,
        ]
        if (ch, cw) != (preprocess.height, preprocess.width):
            crop = cv2.resize(
                crop, (preprocess.width, preprocess.height), interpolation=cv2.INTER_NEAREST
            )
        out[i] = crop
    return out


def horizon_rows(labels: np.ndarray, *, sky: int | None = None) -> np.ndarray:
    """Per frame, the horizon row: the median over columns of the first non-sky row
    (0 when the frame shows no sky, H when it shows only sky).

    Args:
        labels: (N, H, W) label images.
        sky: Label id of sky (default: from the label classes).

    Returns:
        (N,) float rows.
    """
    sky = _label_ids()["sky"] if sky is None else sky
    is_sky = labels == sky  # (N, H, W)
    # First non-sky row per column: argmax of ~sky; a column of all sky counts as H.
    not_sky = ~is_sky
    first = np.where(not_sky.any(axis=1), not_sky.argmax(axis=1), labels.shape[1])  # (N, W)
    return np.median(first, axis=1).astype(np.float64)


@dataclass(frozen=True)
class AttentionShares:
    """Saliency mass per region, per frame.

    Attributes:
        share: region -> (N,) fraction of the frame's saliency mass in the region.
        area: region -> (N,) fraction of the frame's pixels in the region.
    """

    share: dict[str, np.ndarray]
    area: dict[str, np.ndarray]

    def mean(self) -> dict[str, float]:
        """Mean share per region over frames."""
        return {k: float(np.mean(v)) for k, v in self.share.items()}

    def lift(self) -> dict[str, float]:
        """Mean share / mean area per region (1: no more than a uniform map)."""
        out = {}
        for k, v in self.share.items():
            a = float(np.mean(self.area[k]))
            out[k] = float(np.mean(v)) / a if a > 0 else float("nan")
        return out


def attention_shares(
    saliency: np.ndarray, labels: np.ndarray, *, band: float = 0.1
) -> AttentionShares:
    """Share of each frame's saliency mass on road+markings, the horizon band, roadside
    objects, sky and ground.

    Args:
        saliency: (N, H, W) non-negative maps (e.g. VisualBackProp output).
        labels: (N, H, W) label images at the same size (see :func:`labels_to_model`).
        band: Half-height of the horizon band as a fraction of the frame height.

    Returns:
        :class:`AttentionShares`. A frame whose map is all zero gets shares of 0.
    """
    sal = np.asarray(saliency, np.float64)
    labels = np.asarray(labels)
    if sal.ndim == 2:
        sal, labels = sal[None], labels[None]
    if sal.shape != labels.shape:
        raise ValueError(
            f"saliency {sal.shape} and labels {labels.shape} differ in shape "
            "(map labels through labels_to_model first)"
        )
    if not 0 < band < 1:
        raise ValueError(f"horizon band must be in (0, 1), got {band}")
    ids = _label_ids()
    n, h, w = sal.shape
    rows = np.arange(h)[None, :, None]  # (1, H, 1)
    hz = horizon_rows(labels, sky=ids["sky"])[:, None, None]  # (N, 1, 1)
    half = band * h
    regions = {
        "road": np.isin(labels, [ids["road"], ids["marking"]]),
        "horizon": np.broadcast_to(np.abs(rows - hz) <= half, labels.shape),
        "objects": labels == ids["object"],
        "sky": labels == ids["sky"],
        "ground": labels == ids["ground"],
    }
    total = sal.sum(axis=(1, 2))  # (N,)
    safe = np.where(total > 0, total, 1.0)
    share = {k: (sal * m).sum(axis=(1, 2)) / safe for k, m in regions.items()}
    area = {k: m.mean(axis=(1, 2)) for k, m in regions.items()}
    return AttentionShares(share=share, area=area)


def shares_table(rows: Mapping[tuple[str, str], AttentionShares]) -> str:
    """Markdown table: one row per (model, condition), mean share (and lift) per region."""
    head = "| model | condition | " + " | ".join(f"{r} % (lift)" for r in REGIONS) + " |"
    lines = [head, "|---|---|" + "|".join("---:" for _ in REGIONS) + "|"]
    for (model, cond), s in rows.items():
        mean, lift = s.mean(), s.lift()
        cells = [f"{100 * mean[r]:.1f} ({lift[r]:.2f})" for r in REGIONS]
        lines.append(f"| {model} | {cond} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
