"""Run logging: TensorBoard scalars (``train/``, ``val/``), ``metrics.csv`` and a tqdm
progress bar with ETA, all under the run directory. Only the main rank writes.

A resumed run continues the run directory's ``metrics.csv``: rows logged after the step
it resumes from are dropped (the resumed run logs them again, bit-exactly), and logging
the same metrics at a step already in the file replaces that row instead of repeating it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class RunLogger:
    """Scalars to TensorBoard and CSV.

    Args:
        run_dir: The Hydra run directory; writes ``tb/`` and ``metrics.csv`` there.
        enabled: False on non-main ranks (everything becomes a no-op).
        total_steps: For the progress bar's ETA.
        initial_step: Where a resumed run starts; rows of an existing ``metrics.csv``
            after it are dropped.
        progress: Show the tqdm bar.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        enabled: bool = True,
        total_steps: int | None = None,
        initial_step: int = 0,
        progress: bool = True,
    ) -> None:
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self._tb = None
        self._bar = None
        self._csv_file = None
        self._csv: csv.DictWriter | None = None
        self._fields: list[str] = []
        self._rows: list[dict[str, Any]] = []
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self.run_dir / "tb"))
        except ImportError:  # pragma: no cover - tensorboard is a dependency
            self._tb = None
        self.csv_path = self.run_dir / "metrics.csv"
        self._resume_csv(initial_step)
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total_steps,
                initial=initial_step,
                desc="train",
                unit="step",
                dynamic_ncols=True,
            )

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record scalars (names namespaced ``train/...``, ``val/...``) at ``step``."""
        if not self.enabled:
            return
        clean = {
            k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))
        }
        if self._tb is not None:
            for k, v in clean.items():
                self._tb.add_scalar(k, v, step)
        self._write_csv({"step": step, **clean})

    def _resume_csv(self, initial_step: int) -> None:
        """Keep the existing rows up to ``initial_step``; later ones will be logged again."""
        if not self.csv_path.exists():
            return
        with open(self.csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            self._fields = list(reader.fieldnames or [])

        def step_of(row: dict[str, Any]) -> float:
            try:
                return float(row.get("step") or "nan")
            except ValueError:
                return math.nan

        self._rows = [
            {k: v for k, v in r.items() if v not in ("", None)}
            for r in rows
            if step_of(r) <= initial_step
        ]
        self._rewrite()

    def _rewrite(self) -> None:
        if self._csv_file is not None:
            self._csv_file.close()
        self._csv_file = open(self.csv_path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.DictWriter(self._csv_file, fieldnames=self._fields)
        self._csv.writeheader()
        self._csv.writerows(self._rows)
        self._csv_file.flush()

    def _write_csv(self, row: dict[str, Any]) -> None:
        keys, step = set(row), float(row["step"])
        same = None
        for i in range(len(self._rows) - 1, -1, -1):  # rows of this step are at the end
            r_step = float(self._rows[i]["step"])
            if r_step < step:
                break
            if r_step == step and set(self._rows[i]) == keys:
                same = i
                break
        new_keys = [k for k in row if k not in self._fields]
        self._fields += new_keys
        if same is not None:  # the resumed step logged again: replace, do not repeat it
            self._rows[same] = row
            self._rewrite()
            return
        self._rows.append(row)
        if self._csv is None or new_keys:
            self._rewrite()  # (re)open with the union of columns
            return
        self._csv.writerow(row)
        self._csv_file.flush()

    def progress(
        self, step: int, postfix: Mapping[str, float] | None = None, total: int | None = None
    ) -> None:
        """Advance the bar to ``step``; ``total`` re-estimates the run's length (a
        wall-clock budget ends it before ``total_steps``), keeping the ETA honest."""
        if self._bar is None:
            return
        if total is not None and total != self._bar.total:
            self._bar.total = total
        self._bar.update(step - self._bar.n)
        if postfix:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
        if self._csv_file is not None:
            self._csv_file.close()
