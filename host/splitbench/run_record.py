"""``run.json``: what a sweep in a run directory was about, so reports can be rebuilt later."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from splitbench.errors import SplitbenchError

RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunRecord:
    model_name: str
    model_sha: str
    model_path: str
    clients: list[str]
    server: str
    output_bytes: int
    num_operators: int

    def save(self, out_dir: Path) -> None:
        (out_dir / RUN_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @staticmethod
    def load(out_dir: Path) -> RunRecord:
        path = out_dir / RUN_FILE
        try:
            return RunRecord(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise SplitbenchError(
                f"{out_dir} is not a sweep run directory (no {RUN_FILE})"
            ) from None
        except (json.JSONDecodeError, TypeError) as exc:
            raise SplitbenchError(f"{path} is damaged: {exc}") from None
