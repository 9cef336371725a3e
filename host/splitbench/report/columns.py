"""Every column of ``splits.csv``, defined once: its name, unit and meaning.

The modules that fill the table (:mod:`.split_table`, :mod:`.predicted_columns`,
:mod:`splitbench.compress.split_columns`, :mod:`.write`, ``collate``) compute values; what a
column *is* lives here, and nowhere else. ``splits.csv`` refuses a column that is not defined
here (:func:`check`), and the column page of the docs is this table rendered
(:func:`markdown_table`; a test compares them), so code and documentation cannot drift apart.

Names may hold ``<network>``: one column per network configuration (its ``name``).
Sizes are bytes (1 KB = 1,024 bytes where the workbook converts), times milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column, or a family of columns that share a unit and a meaning."""

    names: tuple[str, ...]
    unit: str  # "ms", "bytes", "ratio", "MB", "count", "" (text, flag or index)
    meaning: str
    source: str  # how the value is obtained

    def matches(self, column: str) -> bool:
        return any(_pattern(name).fullmatch(column) for name in self.names)


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name).replace(re.escape("<network>"), r".+"))


_SIDES = "(and `server_…`)"

COLUMNS: tuple[Column, ...] = (
    Column(("split", "on_client", "on_server"), "count", "k, k, N−k", "the cut plan"),
    Column(
        ("cut_tensors",),
        "",
        "JSON list of the tensors that cross the cut (at split N the model outputs, which stay "
        "on the client)",
        "graph analysis: every non-constant tensor produced before k (model inputs count as "
        "produced first) and consumed at or after k, plus model outputs produced before k. "
        "Branchy graphs give multi-tensor cuts. JSON because real tensor names contain `;`.",
    ),
    Column(
        ("after_module",),
        "",
        "the PyTorch module of the last unit on the client (the cut comes after it), e.g. "
        "`layer2.1.relu`; `(root)` for a unit of the root module's own forward",
        "the converter's record of the export's module stack (ONNX name scopes, litert-torch "
        "tensor names, ExecuTorch's nn_module_stack); only for models from PyTorch",
    ),
    Column(
        ("client_ms", "server_ms"),
        "ms",
        "steady-state time of the head on the client and of the tail on the server: the "
        "median of the samples of all bouts (`--statistic mean`: their mean; the workbook and "
        "the report say which); 0 for an empty part. A part known only by a runner's summary "
        "(no raw samples) shows its average",
        "measured directly on each part file, never summed from operators",
    ),
    Column(
        ("client_lo_ms", "client_hi_ms"),
        "ms",
        f"95 % confidence interval of `client_ms` {_SIDES}; empty without raw samples",
        "bootstrap (scipy.stats.bootstrap, 2000 resamples) over the part's bouts; with fewer "
        "than 3 bouts over its samples (docs/statistics.md)",
    ),
    Column(
        ("client_mean_ms", "client_p10_ms", "client_p50_ms", "client_p90_ms", "client_std_ms"),
        "ms",
        f"mean, 10th/50th/90th percentiles and population standard deviation of the raw "
        f"samples of all bouts {_SIDES}",
        "derived from the samples in the database",
    ),
    Column(
        ("server_lo_ms", "server_hi_ms"),
        "ms",
        "the same interval for `server_ms`",
        "bootstrap over the part's bouts",
    ),
    Column(
        ("server_mean_ms", "server_p10_ms", "server_p50_ms", "server_p90_ms", "server_std_ms"),
        "ms",
        "the same for the tail on the server",
        "derived from the samples in the database",
    ),
    Column(
        ("client_unstable", "server_unstable"),
        "",
        "why a part's time should not be trusted as is (its 95 % interval is wider than ±10 % "
        "of it, or its samples are bimodal) and what to do; empty when stable",
        "checked on the samples (docs/statistics.md)",
    ),
    Column(
        ("client_init_ms", "client_first_ms", "client_warmup_ms"),
        "ms",
        "the KPIs of seed clause 10.2.7: initialisation, first inference, mean warm-up run "
        f"{_SIDES}",
        "measured",
    ),
    Column(
        ("server_init_ms", "server_first_ms", "server_warmup_ms"),
        "ms",
        "the same for the tail on the server",
        "measured",
    ),
    Column(
        ("client_mem_init_mb", "client_mem_mb", "client_mem_peak_mb"),
        "MB",
        f"memory growth at init, overall and at its peak (MiB) {_SIDES}",
        "measured (RSS from just before the part is loaded)",
    ),
    Column(
        ("server_mem_init_mb", "server_mem_mb", "server_mem_peak_mb"),
        "MB",
        "the same for the tail on the server",
        "measured (RSS from just before the part is loaded)",
    ),
    Column(
        ("client_runs", "server_runs"),
        "count",
        "steady-state runs behind the times (all bouts pooled)",
        "counted",
    ),
    Column(
        ("intermediate_bytes",),
        "bytes",
        "bytes crossing client → server: sum over the cut, dtype-aware (float32/16, "
        "int8/16/32, uint8, bool …); 0 at split N, where nothing crosses the network",
        "tensor shapes × element size",
    ),
    Column(
        ("output_bytes",),
        "bytes",
        "bytes of the model outputs (the downlink)",
        "tensor shapes × element size",
    ),
    Column(
        ("head_model_bytes", "tail_model_bytes"),
        "bytes",
        "size of each part file",
        "the real file sizes of the split parts (unused weights pruned)",
    ),
    Column(
        ("head_model_ratio",),
        "ratio",
        "head size against the whole model (seed clause 6: split model size over the anchor's)",
        "head_model_bytes / the model file's bytes",
    ),
    Column(
        ("intermediate_ratio",),
        "ratio",
        "intermediate data against the model input that the all-on-the-server anchor uploads",
        "intermediate_bytes / split 0's intermediate_bytes",
    ),
    Column(
        ("max_abs_diff", "bit_exact", "lossless"),
        "",
        "head→tail versus the whole model on the same inputs; lossless means ≤ 1e-3 (the "
        "seeds' tolerance)",
        "run both on this host",
    ),
    Column(
        ("verify_error",),
        "",
        "why the lossless check could not run on this split (then `bit_exact` and `lossless` "
        "stay empty)",
        "the check's error",
    ),
    Column(
        ("conversion_max_abs_diff",),
        "",
        "for a PyTorch model: the converted whole model against eager PyTorch on the check "
        "inputs (the same on every row; `max_abs_diff` stays head→tail against the converted "
        "model)",
        "run both on this host",
    ),
    Column(
        ("e2e_ms_<network>",),
        "ms",
        "end-to-end latency. `ideal` profiles: client + RTT + intermediate/uplink + server + "
        "output/downlink; `tcp` profiles: client + `uplink_ms` + server + `downlink_ms`. At "
        "split N (all on the phone) just the client time",
        "arithmetic on the measured columns (and the simulated transfers)",
    ),
    Column(
        ("e2e_lo_ms_<network>", "e2e_hi_ms_<network>"),
        "ms",
        "95 % interval of `e2e_ms`: client and server resampled independently, the network "
        "terms as they are; empty where a part has no raw samples",
        "percentiles of the bootstrap draws of client + server + network",
    ),
    Column(
        ("p_best_<network>",),
        "ratio",
        "probability that this split is the fastest end to end (share of bootstrap draws in "
        "which it is lowest); sums to 1 over the measured splits. Splits with at least 0.05 "
        "are the contenders: more than one means a tie within the measurement noise",
        "the bootstrap draws of every split's end to end",
    ),
    Column(
        ("uplink_ms_<network>", "downlink_ms_<network>"),
        "ms",
        "`tcp` profiles only: the cut's bytes client → server, from the first SYN (`new` "
        "connection) or first byte (`warm`) to the last byte received, and the output's way "
        "back over the same connection; the median of `--network-draws` draws when the "
        "profile has loss or a rate distribution (0 at split N)",
        "ns-3 simulation of TCP over a point-to-point link (docs/network.md), cached per size",
    ),
    Column(
        ("e2e_p90_ms_<network>",),
        "ms",
        "`tcp` profiles only: client + server + the 90th percentile over the draws of uplink + "
        "downlink",
        "ns-3 simulation, one draw per seed and rate quantile",
    ),
    Column(
        ("e2e_ideal_ms_<network>",),
        "ms",
        "`tcp` profiles only: the ideal arithmetic (client + RTT + intermediate/uplink + server "
        "+ output/downlink at the median rates), to compare with `e2e_ms`",
        "arithmetic on the measured columns",
    ),
    Column(
        ("delivery_ms_<network>",),
        "ms",
        "RTT + head bytes/downlink: the server delivering the head model to the phone (0 for "
        "an empty head)",
        "arithmetic",
    ),
    Column(
        ("client_ms_predicted", "server_ms_predicted", "client_ms_diff", "server_ms_diff"),
        "ms",
        "the second timing method (predicted from a per-operator profile of the whole model, "
        "the chosen statistic over the profiled bouts) and direct − predicted (how the "
        "predictions were made is said once for the run: `notes.prediction_note` in `run.json`, "
        "the workbook's metadata and the report)",
        "sums of a per-operator profile (benchmark_model's op profiling, ONNX Runtime's "
        "profiler, ExecuTorch's ETDump), one per bout of the whole model",
    ),
    Column(
        (
            "client_ms_predicted_lo",
            "client_ms_predicted_hi",
            "server_ms_predicted_lo",
            "server_ms_predicted_hi",
        ),
        "ms",
        "95 % interval of the predicted time over the profiled bouts",
        "bootstrap over bouts (scipy.stats.bootstrap), as for direct parts; with fewer than 3 "
        "bouts it ignores drift between them",
    ),
    Column(
        ("no_prediction",),
        "",
        "why this split has no prediction: the fused kernel or delegate partition its cut runs "
        "through, with its operators (empty when it has one)",
        "the profile reader",
    ),
    Column(
        ("client_error", "server_error"),
        "",
        "why a part could not be measured (e.g. the unresolved operator it contains)",
        "the runtime's error; its times stay empty, never 0",
    ),
    Column(
        ("client_kind",),
        "",
        "what the client is: `this host`, `phone`, or `emulated phone (this host's CPU)` — the "
        "kit's emulated phone, whose times are this host's CPU's, not a phone's",
        "the client target's recorded facts (`ro.splitbench.emulated` on the emulated phone)",
    ),
    Column(
        ("preset", "settings"),
        "",
        "the measurement preset the row's times were taken with (`quick` from `sweep --quick`, "
        "`careful` for the defaults, `custom` otherwise) and the hash of the run settings "
        "identity",
        "recognised from the settings stored with the measurements",
    ),
    Column(
        ("race",),
        "",
        "`--strategy race` only: `eliminated` (its end-to-end interval lay entirely above the "
        "best split's for every network, so the race stopped measuring it; the row keeps what "
        "was measured), `measured` (in the race to its end), empty (not among the race's "
        "`--splits`)",
        "the race's last view of the table, recorded in run.json",
    ),
    Column(
        ("cut_codec",),
        "",
        "`--cut-codec`: `fp16`, `int8` (per-tensor affine, calibrated on the check inputs' "
        "values at the cut), `int8+zstd`, `zstd` (lossless) or `nnc:QP`",
        "the sweep's option",
    ),
    Column(
        ("cut_coded_bytes",),
        "bytes",
        "coded bytes of the cut, mean over the check inputs",
        "encoded",
    ),
    Column(
        ("cut_encode_ms", "cut_decode_ms"),
        "ms",
        "encode (client side) and decode (server side) of the cut",
        "`fp16`/`int8`: the codec operators measured by the client and server targets' own "
        "runners; the others: median of repeats in-process on this host",
    ),
    Column(
        ("cut_codec_timed_on", "head_codec_timed_on"),
        "",
        "where the encode and decode times of the cut and of the head were measured",
        "the target or this host, named",
    ),
    Column(
        ("cut_coded_max_abs_diff", "cut_coded_lossless"),
        "",
        "head → encode → decode → tail against the whole model; a lossy codec is never called "
        "lossless",
        "run on this host",
    ),
    Column(
        ("e2e_coded_ms_<network>",),
        "ms",
        "client + encode + RTT + coded bytes / uplink + decode + server + output / downlink "
        "(split N: the client time)",
        "arithmetic on the measured columns",
    ),
    Column(
        ("delivery_codec",),
        "",
        "`--delivery-codec`: the coder of the head's weights (`nnc:QP` or another model coder)",
        "the sweep's option",
    ),
    Column(
        ("head_coded_bytes",),
        "bytes",
        "the head's coded weights plus the head file's non-weight bytes (the graph travels "
        "uncoded)",
        "encoded",
    ),
    Column(
        ("head_encode_ms", "head_decode_ms"),
        "ms",
        "encode (server) and decode of the head's weights (no decoder runs on a phone here)",
        "median of repeats in-process on this host",
    ),
    Column(
        ("head_coded_max_abs_diff",),
        "",
        "decoded head → tail against the whole model",
        "run on this host",
    ),
    Column(
        ("delivery_coded_ms_<network>",),
        "ms",
        "RTT + coded head bytes / downlink + decode",
        "arithmetic",
    ),
    Column(
        ("method", "undetermined_by"),
        "",
        "`collate` only: how the client and server times were obtained (summed from the "
        "phone's op profiles) and which operators the profiles could not attribute",
        "`splitbench collate`",
    ),
)


# anchors.csv (splitbench.report.anchor_table): the all-on-the-server anchor of seed clause 5,
# one row per picture codec (--anchor-codec).
ANCHOR_COLUMNS: tuple[Column, ...] = (
    Column(
        ("anchor", "codec", "param", "param_name"),
        "",
        "the picture codec as given (`jpeg:90`), its name, its parameter and what the "
        "parameter is (`quality` for JPEG/WebP, `CRF` for H.264/H.265/AV1; none for `png`, "
        "`raw`)",
        "`--anchor-codec`",
    ),
    Column(
        ("coded_bytes",),
        "bytes",
        "the coded picture the phone uploads, mean over the run's pictures (plus any non-image "
        "input, uncoded); `raw`: the model's input tensors as they are (split 0's upload)",
        "encoded with the real library (Pillow; PyAV's libx264, libx265, SVT-AV1)",
    ),
    Column(
        ("coded_ratio",),
        "ratio",
        "coded bytes against the uncoded input tensors (split 0's `intermediate_bytes`)",
        "coded_bytes / input bytes",
    ),
    Column(
        ("encode_ms",),
        "ms",
        "client side: the picture's encode (video codecs: RGB→YUV 4:2:0 and one intra frame, "
        "encoder opened before the clock)",
        "median of repeats in-process on the host named in `codec_timed_on`",
    ),
    Column(
        ("decode_ms",),
        "ms",
        "server side: decode plus the conversion to the model's input layout, dtype and value "
        "range",
        "median of repeats in-process on this host",
    ),
    Column(
        ("server_ms",),
        "ms",
        "the whole model on the server (the same on every row)",
        "measured: the whole model's steady-state time on the server target (median, or mean "
        "with `--statistic mean`, as `server_ms` of splits.csv)",
    ),
    Column(("output_bytes",), "bytes", "the result sent back (the downlink)", "tensor sizes"),
    Column(
        ("max_abs_diff",),
        "",
        "the model's outputs on the decoded picture against its outputs on the original",
        "run both on this host",
    ),
    Column(
        ("metric_name", "metric"),
        "",
        "the task metric where a scenario exists: `landmark_displacement_px` (mean landmark "
        "shift in input pixels) for mediapipe's pose and hand landmark models; empty otherwise",
        "the `pose-landmarks` scenario's metric on decoded against original",
    ),
    Column(
        ("codec_timed_on",),
        "",
        "where encode and decode were timed: this host (the phone's runner has no image codec)",
        "named, never guessed",
    ),
    Column(
        ("note",),
        "",
        "how the picture was coded: one intra frame per inference, padding of odd sizes for 4:2:0",
        "the codec",
    ),
    Column(
        ("e2e_ms_<network>",),
        "ms",
        "encode + RTT + coded bytes / uplink + decode + server + output / downlink",
        "`splitbench.network.e2e_ms` as split 0 with the coded picture as the upload",
    ),
    Column(
        ("delivery_ms_<network>",),
        "ms",
        "model delivery to the phone: 0, the model stays on the server",
        "`splitbench.network.delivery_ms` of 0 bytes",
    ),
)


def definition(column: str, registry: tuple[Column, ...] = COLUMNS) -> Column | None:
    """The definition a column name falls under (None: not a column of the table)."""
    return next((c for c in registry if c.matches(column)), None)


def check(columns: Iterable[str], registry: tuple[Column, ...] = COLUMNS) -> None:
    """Refuse a table with a column that is not defined here (``ValueError``)."""
    unknown = [c for c in columns if definition(c, registry) is None]
    if unknown:
        table = "anchor table" if registry is ANCHOR_COLUMNS else "split table"
        raise ValueError(
            f"{table} column(s) {', '.join(unknown)} are not defined in splitbench.report.columns"
        )


def markdown_table(registry: tuple[Column, ...] = COLUMNS) -> str:
    """The column page's table: one row per definition, names as code."""
    csv = "anchors.csv" if registry is ANCHOR_COLUMNS else "splits.csv"
    lines = [
        f"| column ({csv}) | unit | meaning | how it is obtained |",
        "| --- | --- | --- | --- |",
    ]
    for c in registry:
        names = ", ".join(f"`{n}`" for n in c.names)
        lines.append(f"| {names} | {c.unit or '—'} | {c.meaning} | {c.source} |")
    return "\n".join(lines) + "\n"
