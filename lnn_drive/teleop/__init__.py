"""Drive it yourself: keyboard / gamepad teleoperation of any registered environment,
recorded through :class:`~lnn_drive.data.log.LogWriter`, with policy takeover."""

from lnn_drive.teleop.drive import DriveConfig, drive
from lnn_drive.teleop.keys import KeyMap, action_names

__all__ = ["DriveConfig", "KeyMap", "action_names", "drive"]
