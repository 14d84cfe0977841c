"""`lnn-drive train`: see lnn_drive/commands/train.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("train")
