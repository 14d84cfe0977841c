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

from lnn_drive.data.augment import Augment, AugmentConfig  # noqa: E402
from lnn_drive.data.dataset import (  # noqa: E402
    BalanceConfig,
    DataConfig,
    DataSplit,
    DedupConfig,
    SequenceDataset,
    build_datasets,
    make_loader,
    steering_balance_weights,
)

__all__ += [
    "Augment",
    "AugmentConfig",
    "BalanceConfig",
    "DataConfig",
    "DataSplit",
    "DedupConfig",
    "SequenceDataset",
    "build_datasets",
    "make_loader",
    "steering_balance_weights",
]
