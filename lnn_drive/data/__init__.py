"""Driving logs: format, writer/reader, importers, preprocessing and the sequence dataset."""

from lnn_drive.data.log import (
    ENCODINGS,
    STANDARD_UNITS,
    DatasetMeta,
    DrivingLog,
    EpisodeInfo,
    EpisodeWriter,
    LogFormatError,
    LogWriter,
)
from lnn_drive.data.preprocess import Preprocess

__all__ = [
    "ENCODINGS",
    "STANDARD_UNITS",
    "DatasetMeta",
    "DrivingLog",
    "EpisodeInfo",
    "EpisodeWriter",
    "LogFormatError",
    "LogWriter",
    "Preprocess",
]
