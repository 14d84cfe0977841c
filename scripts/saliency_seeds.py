"""`lnn-drive saliency-seeds`: see lnn_drive/commands/saliency_seeds.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("saliency-seeds")
