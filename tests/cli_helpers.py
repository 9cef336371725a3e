"""Running the installed ``splitbench`` command the way a user does, and reading what it wrote.

Every helper here works on real things: the console script beside the interpreter runs in its
own process, run directories are real folders, ``splits.csv`` is read with :mod:`csv` and
``results.sqlite`` with :mod:`sqlite3`, as a user's own scripts would.
"""

from __future__ import annotations

import csv
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITBENCH = Path(sys.executable).parent / "splitbench"

# Measurement settings small enough for tests: two steady runs, no warm-up, no minimum time.
# One bout per part: these tests count measurements per part (bouts: tests/test_sweep_rounds.py).
FAST = ("--runs", "2", "--min-secs", "0", "--warmup", "0", "--warmup-secs", "0", "--rounds", "1")
RUNS = 2

PROGRESS_PREFIX = "progress: "  # splitbench.progress.PLAIN_PREFIX

# Wide enough that rich never wraps a table cell or an error line.
COLUMNS = "400"


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"COLUMNS": COLUMNS, "TF_CPP_MIN_LOG_LEVEL": "3", "NO_COLOR": "1"})
    env.pop("FORCE_COLOR", None)
    return env


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        """Non-empty stderr lines, without plain progress lines (stderr is not a terminal)."""
        return [
            line
            for line in self.stderr.splitlines()
            if line.strip() and not line.startswith(PROGRESS_PREFIX)
        ]

    def describe(self) -> str:
        return (
            f"splitbench {' '.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}"
        )

    def ok(self) -> CliResult:
        """Assert a zero exit (with the whole output in the message when not) and return self."""
        assert self.returncode == 0, self.describe()
        assert "Traceback" not in self.stderr, self.describe()
        return self


def run_cli(*args: str | Path, cwd: Path | None = None, timeout: float = 300) -> CliResult:
    argv = [str(a) for a in args]
    proc = subprocess.run(
        [str(SPLITBENCH), *argv],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return CliResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


def run_many(commands: Sequence[Sequence[str | Path]], timeout: float = 300) -> list[CliResult]:
    """Run independent commands side by side (separate processes), results in input order."""
    with ThreadPoolExecutor(max_workers=max(1, len(commands))) as pool:
        futures = [pool.submit(run_cli, *cmd, timeout=timeout) for cmd in commands]
        return [f.result() for f in futures]


def _default_sigint() -> None:
    """In the child before exec: Ctrl-C as a user's terminal delivers it. A pytest started as a
    background job of a non-interactive shell ignores SIGINT, and an ignored signal is inherited
    across exec (Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str | Path, stdout_path: Path, stderr_path: Path) -> subprocess.Popen:
    """Start a command without waiting (for the interruption tests); output goes to files."""
    return subprocess.Popen(
        [str(SPLITBENCH), *(str(a) for a in args)],
        stdout=stdout_path.open("w"),
        stderr=stderr_path.open("w"),
        env=cli_env(),
        text=True,
        preexec_fn=_default_sigint,
    )


def _step_line(line: str) -> bool:
    return line.startswith("splitbench: ") and "(first use only" in line


def assert_one_line_error(result: CliResult, *needles: str) -> str:
    """The contract for bad input: non-zero exit, no traceback, exactly one error line on
    stderr, and that line says what is wrong (each of ``needles``, case-insensitive). Only the
    announcement of a slow first-use step (an export, a conversion: :mod:`splitbench.steps`)
    may come before it."""
    assert result.returncode != 0, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    lines = [line for line in result.stderr_lines if not _step_line(line)]
    assert len(lines) == 1, result.describe()
    line = lines[0]
    assert line.startswith("splitbench: error:"), result.describe()
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in {line!r}"
    return line


# --------------------------------------------------------------------------- run directories


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def csv_header(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        return next(csv.reader(fh))


def num(text: str) -> float:
    """A CSV cell as a number; an empty cell (unknown) is NaN."""
    return float(text) if text.strip() else math.nan


def rows_by_split(path: Path) -> dict[int, dict[str, str]]:
    return {int(row["split"]): row for row in read_csv(path)}


def query(db: Path, sql: str, params: Sequence[object] = ()) -> list[tuple]:
    """Read the results database read-only (it may still be written by a running sweep)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def measurement_count(db: Path) -> int:
    return query(db, "SELECT count(*) FROM measurements")[0][0]


def part_measurements(db: Path) -> list[tuple[int, str]]:
    """(split, role) of every head/tail measurement, in the order they were stored."""
    return [
        (int(split), role)
        for split, role in query(
            db, "SELECT split, role FROM measurements WHERE role IN ('head','tail') ORDER BY id"
        )
    ]


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def measured_count(stdout: str) -> int:
    """The N of the sweep's closing line "measured N parts (...)"."""
    import re

    found = re.findall(r"measured (\d+) parts", stdout)
    assert found, f"no 'measured N parts' line in:\n{stdout[-3000:]}"
    return int(found[-1])


# --------------------------------------------------------------------------- inputs


def write_network_toml(path: Path, configs: Sequence[tuple[str, float, float, float]]) -> Path:
    """[[network]] tables from (name, uplink_mbps, downlink_mbps, rtt_ms)."""
    text = ""
    for name, up, down, rtt in configs:
        text += (
            f'[[network]]\nname = "{name}"\nuplink_mbps = {up}\n'
            f"downlink_mbps = {down}\nrtt_ms = {rtt}\n\n"
        )
    path.write_text(text)
    return path


def write_png_images(folder: Path, count: int, size: tuple[int, int] = (320, 240)) -> list[Path]:
    """Real PNG photos-to-be: smooth gradients plus seeded noise, different per image."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    paths = []
    for i in range(count):
        base = np.stack(
            [
                (xx * 255 / width + 40 * i) % 256,
                (yy * 255 / height + 90 * i) % 256,
                ((xx + yy) * 128 / (width + height) + 60 * i) % 256,
            ],
            axis=-1,
        )
        noisy = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"photo_{i:02d}.png"
        Image.fromarray(noisy, "RGB").save(path)
        paths.append(path)
    return paths


def assert_real_png(path: Path, min_bytes: int = 5_000, min_size: tuple[int, int] = (300, 200)):  # type: ignore[no-untyped-def]
    """A PNG a person can look at: the signature, decodable, not tiny, not blank."""
    from PIL import Image

    assert path.is_file(), f"{path} missing"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert min_bytes <= len(data) <= 5_000_000, f"{path}: {len(data)} bytes"
    with Image.open(path) as img:
        img.load()
        width, height = img.size
        assert width >= min_size[0] and height >= min_size[1], f"{path}: {img.size}"
        extrema = img.convert("L").getextrema()
        assert extrema[0] != extrema[1], f"{path} is a blank image"


def tensor_nbytes(detail: dict) -> int:
    """Bytes of a tensor from ``Interpreter.get_tensor_details()`` (shape x dtype size)."""
    return int(np.prod(detail["shape"], dtype=np.int64)) * np.dtype(detail["dtype"]).itemsize
