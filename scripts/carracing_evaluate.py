"""`lnn-drive carracing-evaluate`: see lnn_drive/commands/carracing_evaluate.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("carracing-evaluate")
