"""`lnn-drive collect-drone`: see lnn_drive/commands/collect_drone.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("collect-drone")
