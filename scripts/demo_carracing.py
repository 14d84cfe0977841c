"""`lnn-drive demo-carracing`: see lnn_drive/commands/demo_carracing.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("demo-carracing")
