"""`lnn-drive import-lerobot`: see lnn_drive/commands/import_lerobot.py and conf/import_lerobot.yaml for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("import_lerobot")
