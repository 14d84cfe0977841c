"""`lnn-drive model-summary`: see lnn_drive/commands/model_summary.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("model-summary")
