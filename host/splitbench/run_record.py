"""``run.json``: what a sweep in a run directory is about, so reports can be rebuilt later.

One run directory holds one model: ``results.sqlite``, ``splits.csv`` and the other reports stay
at the top level of ``--out``. A sweep of another model into the same directory is refused with
one line before anything is measured, and ``run.json`` is never overwritten by another model.
The same model swept again with other phones adds them to ``clients`` (the tables of the earlier
phones stay reproducible with ``splitbench report``); the server and the split selection are the
latest sweep's.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from splitbench.errors import SplitbenchError
from splitbench.model_source import SOURCE_PREFIX

RUN_FILE = "run.json"


class OtherModelError(SplitbenchError):
    """The run directory already holds a sweep of another model."""


@dataclass(frozen=True)
class RunRecord:
    model_name: str
    model_sha: str
    model_path: str
    clients: list[str]
    server: str
    output_bytes: int
    num_operators: int
    # A PyTorch model's conversion error: eager PyTorch vs the converted file on the check
    # inputs (None for models that were not converted from PyTorch).
    conversion_max_abs_diff: float | None = None
    # The run settings as the user gave them (``--runs``, ``--min-secs``, ``--rounds``, ...),
    # shown as such in the report; None in run directories written before it was recorded.
    settings: dict[str, Any] | None = None
    # The splits the latest sweep had to measure (None: every split): what `report` checks.
    splits: list[int] | None = None
    # What MODEL was before any conversion (splitbench.model_source.source_identity); None in
    # run directories written before it was recorded.
    model_source: str | None = None
    # What the model was fed (measure.pictures.Pictures.describe: source, pictures, layout,
    # value range); None for a model without an image input (seeded random inputs).
    inputs: dict[str, Any] | None = None
    # --strategy race (splitbench.race.Race.record): bouts, eliminated splits, stop reason,
    # undecided networks; None when the latest sweep was not a race.
    race: dict[str, Any] | None = None
    # How the latest sweep kept its timed runs on this host apart from its own background work
    # (measure.background.QuietHost.record); None before the sweep ends.
    quiet: dict[str, Any] | None = None
    # Run-level notes of the latest tables ({name: text}, e.g. prediction_note: why splits have
    # no per-operator prediction), said here once rather than on every row of splits.csv.
    notes: dict[str, str] | None = None

    def save(self, out_dir: Path) -> RunRecord:
        """Write ``run.json`` (atomically), merged with the one already there; refuse another
        model. Returns what was written."""
        merged = self.merged_with(out_dir)
        path = out_dir / RUN_FILE
        partial = path.with_name(RUN_FILE + ".partial")
        try:
            partial.write_text(json.dumps(asdict(merged), indent=2) + "\n")
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return merged

    def merged_with(self, out_dir: Path) -> RunRecord:
        """This record combined with the directory's existing one (clients added)."""
        if not (out_dir / RUN_FILE).is_file():
            return self
        old = RunRecord.load(out_dir)
        if old.model_sha != self.model_sha:
            raise OtherModelError(
                _other_model(out_dir, old, f"{self.model_name} (sha256 {self.model_sha[:12]}…)")
            )
        clients = [*old.clients, *(c for c in self.clients if c not in old.clients)]
        conversion = self.conversion_max_abs_diff
        if conversion is None:
            conversion = old.conversion_max_abs_diff
        asked = self.settings if self.settings is not None else old.settings
        inputs = self.inputs if self.inputs is not None else old.inputs
        quiet = self.quiet if self.quiet is not None else old.quiet
        notes = self.notes if self.notes is not None else old.notes
        return replace(
            self,
            clients=clients,
            conversion_max_abs_diff=conversion,
            settings=asked,
            model_source=self.model_source or old.model_source,
            inputs=inputs,
            quiet=quiet,
            notes=notes,
        )

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


def refuse_other_model(out_dir: Path, identity: str | None, model: str) -> None:
    """Refuse MODEL before it is converted or anything is written into ``out_dir`` when the
    run directory holds the sweep of another model.

    ``identity`` is :func:`splitbench.model_source.source_identity`: a model file used as it
    is is known by its sha256 (the ``model_sha`` of ``run.json``), a converted one by its source
    (``model_source``). A run directory written before sources were recorded cannot tell a
    converted model by its source; the converted file's sha256 is then checked when the sweep
    starts (:meth:`RunRecord.merged_with`), still before anything is measured."""
    if identity is None or not (out_dir / RUN_FILE).is_file():
        return
    old = RunRecord.load(out_dir)
    if identity in (old.model_sha, old.model_source):
        return
    if old.model_source is None and identity.startswith(SOURCE_PREFIX):
        return
    raise OtherModelError(_other_model(out_dir, old, model))


def _other_model(out_dir: Path, old: RunRecord, new: str) -> str:
    return (
        f"{out_dir} holds the sweep of another model ({old.model_name}, sha256 "
        f"{old.model_sha[:12]}…), not {new}; a run directory holds one model — use another --out"
    )
