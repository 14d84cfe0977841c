"""`lnn-drive benchmark`: see lnn_drive/commands/benchmark.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("benchmark")
