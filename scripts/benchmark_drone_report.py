"""`lnn-drive benchmark-drone-report`: see lnn_drive/commands/benchmark_drone_report.py and conf/ for its options."""

from lnn_drive.commands import script_main

if __name__ == "__main__":
    script_main("benchmark-drone-report")
