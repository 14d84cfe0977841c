"""`lnn-drive import-drone`: see lnn_drive/commands/import_drone.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("import-drone")
