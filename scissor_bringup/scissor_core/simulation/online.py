"""Online learning's reward curve: the agent node's per-outcome log, its summary and its plot.

While the agent learns online (``agent.learn_online``) it appends one row per
FrameOutcome it learned from to ``<checkpoint stem>-rewards.csv`` next to the
checkpoint (:func:`reward_log_path`), flushed per line so a killed agent leaves
a readable file, and one row per checkpoint it saved. Columns:

``outcomes`` (outcomes learned from so far), ``seq``, ``time`` (s since the log
was opened), ``reward``, ``split``, ``completed`` (0/1), ``moving_average`` (mean
reward of the last ``window`` outcomes), ``checkpoint`` (empty, or the path of
the checkpoint saved after that many outcomes: such a row has no ``seq``,
``reward``, ``split`` or ``completed``). The file is rewritten when the agent
starts: a restarted agent starts again from the shipped policy.
"""
from __future__ import annotations

import csv
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from scissor_core.runtime.outcome import FrameOutcome

WINDOW = 50
"""Outcomes in the moving average of the reward."""
FIELDS = ("outcomes", "seq", "time", "reward", "split", "completed", "moving_average", "checkpoint")


def reward_log_path(checkpoint: str | Path) -> Path:
    """``<checkpoint stem>-rewards.csv`` in the checkpoint's folder."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(f"{checkpoint.stem}-rewards.csv")


class MovingAverage:
    """Mean of the last ``window`` values (of all values while fewer have been added)."""

    def __init__(self, window: int = WINDOW) -> None:
        if window < 1:
            raise ValueError(f"moving-average window must be >= 1, got {window}")
        self.values: deque[float] = deque(maxlen=window)
        self.total = 0.0

    def add(self, value: float) -> float:
        if len(self.values) == self.values.maxlen:
            self.total -= self.values[0]
        self.values.append(value)
        self.total += value
        return self.value

    @property
    def value(self) -> float:
        return self.total / len(self.values) if self.values else float("nan")


class OnlineRewardLog:
    """Appends the rewards the online learner saw, and its checkpoints, to a CSV (flushed per row)."""

    def __init__(self, path: str | Path, window: int = WINDOW) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.average = MovingAverage(window)
        self.outcomes = 0
        self.checkpoints = 0
        self._start = time.monotonic()
        self._file = self.path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._row(FIELDS)

    def _row(self, values) -> None:
        self._writer.writerow(values)
        self._file.flush()

    def record(self, outcome: FrameOutcome) -> float:
        """One outcome learned from; returns the moving-average reward."""
        self.outcomes += 1
        average = self.average.add(outcome.reward)
        self._row([self.outcomes, outcome.seq, f"{time.monotonic() - self._start:.3f}", f"{outcome.reward:.6f}",
                   outcome.split, int(outcome.completed), f"{average:.6f}", ""])
        return average

    def checkpoint(self, path: str | Path) -> None:
        """A checkpoint was saved after the outcomes recorded so far."""
        self.checkpoints += 1
        self._row([self.outcomes, "", f"{time.monotonic() - self._start:.3f}", "", "", "",
                   f"{self.average.value:.6f}", str(path)])

    def close(self) -> None:
        self._file.close()


@dataclass
class OnlineCurve:
    """An online reward log read back: the outcome rows and the checkpoint rows."""

    seq: list[int] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)
    split: list[str] = field(default_factory=list)
    completed: list[bool] = field(default_factory=list)
    moving_average: list[float] = field(default_factory=list)
    checkpoints: list[tuple[int, float, str]] = field(default_factory=list)
    """(outcomes learned from, time, path) of every checkpoint saved."""

    @classmethod
    def read(cls, path: str | Path) -> OnlineCurve:
        curve = cls()
        with Path(path).open(newline="") as f:
            for row in csv.DictReader(f):
                if row.get("checkpoint"):
                    curve.checkpoints.append((int(row["outcomes"]), float(row["time"]), row["checkpoint"]))
                elif row.get("seq") and row.get("moving_average"):  # a row cut by a kill has no last field
                    curve.seq.append(int(row["seq"]))
                    curve.time.append(float(row["time"]))
                    curve.reward.append(float(row["reward"]))
                    curve.split.append(row["split"])
                    curve.completed.append(row["completed"] == "1")
                    curve.moving_average.append(float(row["moving_average"]))
        return curve

    def first_last(self, share: float = 0.1) -> tuple[float, float]:
        """Mean reward of the first and of the last ``share`` of the outcomes (at least one each)."""
        if not self.reward:
            return float("nan"), float("nan")
        n = max(1, round(len(self.reward) * share))
        return sum(self.reward[:n]) / n, sum(self.reward[-n:]) / n

    def summary(self) -> str:
        first, last = self.first_last()
        return (f"online learning: {len(self.reward)} outcomes learned from, moving-average reward first 10% "
                f"{first:.3f} -> last 10% {last:.3f}, {len(self.checkpoints)} checkpoints saved")

    def plot(self, path: str | Path, title: str) -> Path:
        """Reward per outcome (dots; dropped frames red) and its moving average over time, checkpoints marked."""
        from scissor_core.plots import plt, save

        fig, ax = plt.subplots(figsize=(8, 4))
        done = [i for i, c in enumerate(self.completed) if c]
        dropped = [i for i, c in enumerate(self.completed) if not c]
        ax.scatter([self.time[i] for i in done], [self.reward[i] for i in done], s=6, alpha=0.4,
                   color="tab:blue", label="reward per frame")
        if dropped:
            ax.scatter([self.time[i] for i in dropped], [self.reward[i] for i in dropped], s=8, alpha=0.6,
                       color="tab:red", label="dropped frame")
        ax.plot(self.time, self.moving_average, color="black", linewidth=1.6,
                label=f"moving average ({WINDOW} outcomes)")
        for i, (_, t, _) in enumerate(self.checkpoints):
            ax.axvline(t, color="tab:green", linestyle="--", linewidth=0.8,
                       label="checkpoint saved" if i == 0 else None)
        ax.set_xlabel("time since the agent started learning (s)")
        ax.set_ylabel("reward")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
        fig.tight_layout()
        return save(fig, path, dpi=120)
