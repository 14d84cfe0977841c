"""lnn_drive: liquid neural network (NCP) controllers that drive from a camera."""

from pathlib import Path

from omegaconf import OmegaConf

__version__ = "0.1.0"

#: The repository root (where ``conf/`` and ``data/`` live for a source checkout).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Lets configs say ${project_root:} instead of depending on the working directory.
if not OmegaConf.has_resolver("project_root"):
    OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
