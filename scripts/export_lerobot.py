"""`lnn-drive export-lerobot`: see lnn_drive/commands/export_lerobot.py and conf/export_lerobot.yaml for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("export_lerobot")
