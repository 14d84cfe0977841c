"""Writing matplotlib figures: one helper so every plot is saved the same way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def save_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Lay out ``fig``, write it to ``path`` (parents created) and close it.

    The picture is written beside its destination and moved into place, so a killed run
    never leaves a half-written image that looks complete.

    Args:
        fig: A matplotlib figure.
        path: Destination; the suffix decides the format.
        dpi: Resolution of raster formats.

    Returns:
        The written path.
    """
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")
    fig.tight_layout()
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, out)
    return out
