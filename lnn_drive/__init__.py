"""lnn_drive: liquid neural network (NCP) controllers that drive from a camera."""

from pathlib import Path

__version__ = "0.1.0"

#: The repository root (where ``conf/`` and ``data/`` live for a source checkout).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
