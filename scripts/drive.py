"""`lnn-drive drive`: see lnn_drive/commands/drive.py and conf/drive.yaml for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("drive")
