"""`lnn-drive demo-drone`: see lnn_drive/commands/demo_drone.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("demo-drone")
