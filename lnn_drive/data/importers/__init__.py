"""Importers: other recording formats into the project's driving-log format, all through
:class:`~lnn_drive.data.log.LogWriter`."""

from lnn_drive.data.importers.common import (
    ImportSummary,
    check_label,
    decode_image,
    read_image_bytes,
    resolve_frame_path,
)
from lnn_drive.data.importers.drone_causality import DroneImportConfig, import_drone_causality
from lnn_drive.data.importers.udacity import UdacityImportConfig, import_udacity
from lnn_drive.data.importers.video import VideoImportConfig, import_video

__all__ = [
    "DroneImportConfig",
    "ImportSummary",
    "UdacityImportConfig",
    "VideoImportConfig",
    "check_label",
    "decode_image",
    "import_drone_causality",
    "import_udacity",
    "import_video",
    "read_image_bytes",
    "resolve_frame_path",
]
