"""`lnn-drive export-checkpoint`: see lnn_drive/commands/export_checkpoint.py and conf/export_checkpoint.yaml for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("export_checkpoint")
