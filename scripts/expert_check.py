"""`lnn-drive expert-check`: see lnn_drive/commands/expert_check.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("expert-check")
