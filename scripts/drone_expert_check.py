"""`lnn-drive drone-expert-check`: see lnn_drive/commands/drone_expert_check.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("drone-expert-check")
