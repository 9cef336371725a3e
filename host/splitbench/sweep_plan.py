"""What a sweep is asked to do and what it reports back: the plan, the jobs, the outcome, and
the pure decisions about them (bouts, the splits to measure, profile-then-verify's picks, the
anchor codecs), apart from the stages that carry them out (:mod:`splitbench.sweep`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from splitbench.anchor.codecs import DEFAULT_IMAGE_CODECS, AnchorCodecSpec, parse_anchor_codecs
from splitbench.cutplan import Cut, check_split, output_bytes
from splitbench.errors import SplitbenchError
from splitbench.graph import ModelGraph
from splitbench.measure.pictures import Pictures, check_one_size
from splitbench.measure.types import RunSettings
from splitbench.network import NetworkConfig, e2e_ms
from splitbench.predict import Prediction
from splitbench.presets import per_bout
from splitbench.run_record import RunRecord
from splitbench.targets.base import Target

STRATEGIES = ("direct", "profile-then-verify", "race")


@dataclass(frozen=True)
class SweepPlan:
    """What to sweep: the model file (already a .tflite), where, on what, how."""

    model_path: Path
    model_name: str
    out_dir: Path
    settings: RunSettings
    splits: tuple[int, ...] | None = None  # None: every split 0..N
    inputs_dir: Path | None = None
    verify_inputs: int = 3
    seed: int = 0
    keep_parts: bool = False
    input_shapes: dict[str, tuple[int, ...]] | None = None
    strategy: str = "direct"  # or "profile-then-verify" or "race"
    # Each part is measured in this many bouts, one per pass over the splits, and the table
    # pools them: slow drifts of the machine (frequency, neighbours) then average out instead
    # of landing on whichever split happened to run during them. ``settings`` is per bout.
    rounds: int = 1
    networks: tuple[NetworkConfig, ...] = ()  # used by profile-then-verify to pick splits
    # Compression (splitbench.compress.split_codecs): code the cut / the delivered head.
    cut_codec: str | None = None
    delivery_codec: str | None = None
    # The torch.export a PyTorch model was converted from: the conversion's own error against
    # eager PyTorch is measured on the check inputs (column conversion_max_abs_diff).
    torch_export: Path | None = None
    input_scale: str = "-1..1"  # how --inputs images become float values (measure.inputs)
    jobs: int = 1  # worker processes making parts, for formats that make them slowly
    # A failed measurement is evidence (kept with its error) but never counts as done: the next
    # run measures it again. False keeps failures as final (``--retry-failed no``).
    retry_failed: bool = True
    # What MODEL is before conversion (splitbench.model_source.source_identity), kept in
    # run.json so that a later sweep of another model is refused before it converts anything.
    model_source: str | None = None
    # The run settings as the user typed them (totals, before bouts), kept in run.json.
    asked: dict[str, Any] | None = None
    # The clause-5 anchor "all on the server": picture codecs (``jpeg:90,webp:80,h264:23``);
    # None: the default for the model (image input: DEFAULT_IMAGE_CODECS, otherwise raw).
    anchor_codecs: str | None = None
    # --strategy race (splitbench.race): verdicts within this many ms count as decided (None: 1 %
    # of the best's end to end); the race stops after this many minutes (None: no limit).
    tie_ms: float | None = None
    max_minutes: float | None = None
    statistic: str = "median"  # what the race's view of the table uses (splitbench.stats)


@dataclass
class Job:
    """One part of one split to be measured on one target."""

    split: int | None  # None for the whole model
    role: str  # "head" | "tail" | "whole"
    target: Target
    target_name: str
    part: Path
    bout: int = 0


@dataclass
class SweepOutcome:
    graph: ModelGraph
    model_name: str
    db_path: Path
    measured: int = 0
    skipped: int = 0
    failed_parts: list[str] = field(default_factory=list)
    inference_ms: float = 0.0  # sum of every timed inference measured in this run
    wall_s: float = 0.0
    chosen_splits: list[int] = field(default_factory=list)  # profile-then-verify's picks
    requested_splits: list[int] = field(default_factory=list)  # what this run had to measure
    rounds: int = 1
    settings_hash: str = ""  # the settings identity every measurement of this run carries
    conversion_max_abs_diff: float | None = None  # PyTorch models: eager vs converted file
    # targets that failed themselves (phone or adb server gone): name → the one-line reason;
    # their remaining measurements were not made (a rerun resumes them)
    stopped: dict[str, str] = field(default_factory=dict)
    db_s: float = 0.0  # seconds the measurements spent being written (lock wait included)
    parts_written: int = 0  # splits whose parts this run wrote (once per split, not per bout)
    record: RunRecord | None = None  # what this sweep wrote into run.json (its own clients)
    anchor_s: float = 0.0  # seconds the anchor stage took (codecs, model on decoded pictures)
    anchors: list[str] = field(default_factory=list)  # the anchor codecs of this run
    anchor_error: str = ""  # why the anchors could not be measured (the whole model fails here)
    race: dict[str, Any] | None = None  # --strategy race: what run.json records (splitbench.race)


ProgressHook = Callable[[str, int, int], None]  # (stage, done, total)


def bout_settings(total: RunSettings, rounds: int) -> RunSettings:
    """Per-bout settings so that ``rounds`` bouts together honour the user's totals: at least
    ``num_runs`` steady runs and ``min_secs`` seconds (and the warm-up) over all bouts."""
    if rounds < 1:
        raise SplitbenchError(f"--rounds must be at least 1, got {rounds}")
    return per_bout(total, rounds)


def select_splits(graph: ModelGraph, splits: Iterable[int] | None) -> list[int]:
    """Every split 0..N, or the given ones sorted, each checked to be in range."""
    if splits is None:
        return list(range(graph.num_operators + 1))
    chosen = sorted(set(splits))
    for k in chosen:
        check_split(graph, k)
    return chosen


def best_predicted_splits(
    graph: ModelGraph,
    cuts: list[Cut],
    clients: list[list[Prediction]],
    server: list[Prediction],
    networks: list[NetworkConfig],
    statistic: str = "median",
) -> list[int]:
    """The splits worth measuring directly: for at least one (client, network) pair, the
    predicted best and every split whose predicted 95 % interval (over the profiled bouts)
    overlaps the best's — not just the point winner, which the profile's noise could have
    picked. Splits with no prediction (a kernel spans their cut) are skipped."""
    import numpy as np

    from splitbench.stats.predicted import predicted_parts

    if not networks:
        raise SplitbenchError("profile-then-verify needs at least one network configuration")
    n = graph.num_operators
    out_bytes = output_bytes(graph)
    tails = predicted_parts(server, "server", n, statistic)
    chosen: set[int] = set()
    for client in clients:
        heads = predicted_parts(client, "client", n, statistic)
        for cfg in networks:
            rows: list[tuple[int, float, float, float]] = []  # split, point, lo, hi
            for cut in cuts:
                k = cut.split
                head, tail = heads[k], tails[k]
                if head is None or tail is None:
                    continue
                net = e2e_ms(0.0, 0.0, cut.nbytes, out_bytes, cfg, split=k, num_operators=n)
                draws = head.draws + tail.draws + net
                lo, hi = (float(v) for v in np.nanpercentile(draws, [2.5, 97.5]))
                rows.append((k, head.estimate + tail.estimate + net, lo, hi))
            if not rows:
                continue
            best = min(rows, key=lambda r: r[1])
            chosen.update(k for k, _, lo, _ in rows if k == best[0] or lo <= best[3])
    if not chosen:
        raise SplitbenchError("profile-then-verify: no split could be predicted from the profiles")
    return sorted(chosen)


def anchor_codecs_for(
    text: str | None, pictures: Pictures | None, inputs_dir: Path | None
) -> list[AnchorCodecSpec]:
    """The anchor codecs of a run, checked against its inputs before anything is measured: a
    picture codec needs an image input; the --inputs frames of one stream have one size."""
    specs = parse_anchor_codecs(text or (DEFAULT_IMAGE_CODECS if pictures else "raw"))
    pictured = [spec for spec in specs if spec.needs_image]
    if pictured and pictures is None:
        raise SplitbenchError(
            f"--anchor-codec {pictured[0].label} codes a picture, but the model has no image "
            "input ([1,H,W,3], [1,3,H,W] or 1-channel): use --anchor-codec raw"
        )
    if pictured and inputs_dir is not None:
        check_one_size(inputs_dir)
    return specs


def require_ok(outcome: SweepOutcome) -> None:
    """Raise when nothing at all could be measured (every part failed)."""
    if outcome.measured and len(outcome.failed_parts) == outcome.measured:
        raise SplitbenchError("every part failed to run: " + outcome.failed_parts[0])
