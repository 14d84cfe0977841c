"""`lnn-drive carracing-collect`: see lnn_drive/commands/carracing_collect.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("carracing-collect")
