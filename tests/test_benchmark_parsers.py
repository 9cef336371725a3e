"""Parsers of TensorFlow Lite ``benchmark_model`` output, on real published outputs.

Every expected number below was read by eye from the fixture files in ``benchmark_csv/`` (their
provenance is written beside them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from splitbench.errors import SplitbenchError
from splitbench_collect.benchmark_stdout import (
    BenchmarkOutputError,
    parse_benchmark_measurement,
    parse_benchmark_stdout,
)
from splitbench_collect.op_profile import (
    NodeKind,
    ProfileFormatError,
    attribute_to_operators,
    cumulative_by_split,
    infer_delegate_coverage,
    parse_run_order,
    primary_operator_count,
    read_run_order,
    resolve_delegate_kernels,
    run_order_to_csv,
)

FIXTURES = Path(__file__).resolve().parents[1] / "benchmark_csv"
CPU = FIXTURES / "poco_x3_mnv3_seg_float_cpu_stdout.txt"
GPU = FIXTURES / "poco_x3_mnv3_seg_float_gpu_stdout.txt"
NNAPI = FIXTURES / "deeplabv3_nnapi_run_order.txt"
TC2 = FIXTURES / "arm_tc2_fvp_object_localizer_stdout.txt"
GRAPH = FIXTURES / "mnv3_seg_float.graph.json"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- stdout -------------------------------------------------------------------------------------


def test_android_cpu_stdout_timings_and_memory() -> None:
    out = parse_benchmark_stdout(_text(CPU))
    assert out.graph == "/data/local/tmp/mnv3_seg_float.tflite"
    assert out.num_threads == 2  # "#threads used for CPU inference: [2]"
    assert out.init_ms == pytest.approx(0.746)
    assert out.first_ms == pytest.approx(49.587)
    assert out.warmup_avg_ms == pytest.approx(18.8515)
    assert out.inference_avg_ms == pytest.approx(17.138)
    assert out.warmup is not None and out.warmup.count == 27
    assert out.warmup.ms("max") == pytest.approx(49.587)
    assert out.regular is not None and out.regular.count == 58
    # "Peak memory footprint (MB): init=2.58594 overall=15.7461" (TF 2.3/2.4 wording)
    assert (out.mem_init_mb, out.mem_overall_mb) == (2.58594, 15.7461)
    assert out.error is None


def test_android_cpu_stdout_as_part_measurement() -> None:
    m = parse_benchmark_measurement(_text(CPU), runtime="tflite-nightly-2020")
    assert m.method == "benchmark_model" and m.runtime == "tflite-nightly-2020"
    assert m.ok and m.settings.threads == 2
    assert m.steady_summary is not None
    assert m.steady_summary.count == 58
    assert m.steady_summary.min_ms == pytest.approx(16.993)
    assert m.steady_summary.max_ms == pytest.approx(17.256)
    assert m.steady_summary.avg_ms == pytest.approx(17.138)
    assert m.steady_summary.std_ms == pytest.approx(0.058)
    assert m.steady_mean_ms == pytest.approx(17.138)
    assert m.steady_ms == [] and m.warmup_ms == []  # no raw samples are printed: none invented


def test_gpu_stdout() -> None:
    out = parse_benchmark_stdout(_text(GPU))
    assert out.num_threads == 1
    assert out.init_ms == pytest.approx(1451.51)
    assert out.first_ms == pytest.approx(11.147)
    assert out.regular is not None and out.regular.count == 110
    assert out.regular.ms("avg") == pytest.approx(8.68033)
    assert out.mem_overall_mb == pytest.approx(63.4883)


def test_newer_layout_with_info_prefixes_and_indentation() -> None:
    out = parse_benchmark_stdout(_text(TC2))
    assert out.graph == "mobile_object_localizer_v1.tflite"
    assert out.num_threads == 4
    assert out.min_num_runs == 10
    assert out.init_ms == pytest.approx(16.772)
    assert out.first_ms == pytest.approx(8.781)
    assert out.inference_avg_ms == pytest.approx(7.45497)
    assert out.regular is not None and out.regular.count == 67
    assert out.regular.ms("std") == pytest.approx(0.256)
    # "Memory footprint delta from the start of the tool (MB): init=8.44922 overall=10.8789"
    assert (out.mem_init_mb, out.mem_overall_mb) == (8.44922, 10.8789)
    # the profile's own "Timings (microseconds): count=67 first=7068 ..." is not a run line
    assert out.regular.values_us["first"] == 7176.0
    assert out.to_measurement().settings.num_runs == 10


def test_run_order_only_text_is_not_a_measurement() -> None:
    with pytest.raises(BenchmarkOutputError) as info:
        parse_benchmark_stdout(_text(NNAPI))
    assert isinstance(info.value, SplitbenchError)
    assert "\n" not in str(info.value)


def test_failure_names_the_operator() -> None:
    """The real stdout header of the POCO X3 run, followed by the failure lines exactly as
    TensorFlow Lite's subgraph.cc and benchmark tool word them (no published failing run with
    op names was found)."""
    head = _text(CPU).split("The input model file size")[0]
    failing = (
        head + "ERROR: Encountered unresolved custom op: Convolution2DTransposeBias.\n"
        "ERROR: Node number 244 (Convolution2DTransposeBias) failed to prepare.\n"
        "Failed to allocate tensors!\nBenchmarking failed.\n"
    )
    m = parse_benchmark_measurement(failing)
    assert not m.ok
    assert m.error == (
        "benchmark_model: unresolved custom operator Convolution2DTransposeBias "
        "(operator index 244)"
    )
    assert m.init_ms is None and m.steady_summary is None


def test_not_benchmark_output_is_one_clear_line() -> None:
    with pytest.raises(BenchmarkOutputError) as info:
        parse_benchmark_stdout(_text(FIXTURES / "README.md"))
    message = str(info.value)
    assert message.startswith("not benchmark_model output")
    assert "\n" not in message


# --- Run Order ----------------------------------------------------------------------------------


def test_cpu_run_order_reads_only_the_regular_run_order() -> None:
    nodes = parse_run_order(_text(CPU))
    # 77 operators; the 10 "Top by Computation Time" rows and the init AllocateTensors are skipped
    assert len(nodes) == 77
    assert [n.node_index for n in nodes] == list(range(77))
    assert all(n.kind is NodeKind.OPERATOR and n.op_indices == (n.node_index,) for n in nodes)
    assert not any(n.name.startswith("AllocateTensors") for n in nodes)
    first, pad, last = nodes[0], nodes[1], nodes[-1]
    assert (first.node_type, first.first_ms, first.avg_ms) == ("CONV_2D", 1.504, 1.502)
    assert first.start_ms == 0.0 and first.percent == 8.78
    assert (pad.node_type, pad.name, pad.avg_ms) == (
        "PAD",
        "[model/expanded_conv/depthwise/pad/Pad]:1",
        0.190,
    )
    assert (last.name, last.avg_ms, last.start_ms) == ("[Identity]:76", 1.521, 15.614)
    # the rows add up to the profile's own total "avg=17101.5" (us)
    assert sum(n.per_run_ms for n in nodes) == pytest.approx(17.1015, abs=0.002)


def test_top_by_computation_time_would_reorder_rows() -> None:
    """The fixture's "Top by Computation Time" starts with RESIZE_BILINEAR; the parsed rows keep
    run order, so the first row is the first operator."""
    text = _text(CPU)
    top = text.split("Top by Computation Time")[2]  # the regular runs' table
    assert top.splitlines()[2].split()[0] == "RESIZE_BILINEAR"
    assert parse_run_order(text)[0].node_type == "CONV_2D"


def test_init_profile_is_ignored_in_newer_layout() -> None:
    nodes = parse_run_order(_text(TC2))
    assert len(nodes) == 115  # "115 nodes observed"
    assert not any("ModifyGraphWithDelegate" in n.name for n in nodes)
    first = nodes[0]
    assert first.node_type == "Convolution (NHWC, QU8) IGEMM"
    assert first.name == "Delegate/Convolution (NHWC, QU8) IGEMM:0"
    assert first.start_ms is None and (first.first_ms, first.avg_ms) == (0.267, 0.278)
    # ":0" is XNNPACK's own operator index: it maps to no TFLite operator
    assert first.kind is NodeKind.DELEGATE_OP and first.op_indices == ()
    post = next(n for n in nodes if n.node_type == "TFLite_Detection_PostProcess")
    assert post.kind is NodeKind.OPERATOR and post.op_indices == (114,)
    assert post.outputs[0] == "TFLite_Detection_PostProcess"


def test_gpu_delegate_kernel_covers_every_operator() -> None:
    nodes = parse_run_order(_text(GPU))
    assert len(nodes) == 1
    kernel = nodes[0]
    assert (kernel.node_type, kernel.name, kernel.avg_ms) == (
        "TfLiteGpuDelegateV2",
        "[Identity]:77",
        8.671,
    )
    assert kernel.kind is NodeKind.DELEGATE_KERNEL and kernel.op_indices == ()
    assert primary_operator_count(nodes) == 77  # kernels are appended after the 77 operators
    assert infer_delegate_coverage(nodes)[0].op_indices == tuple(range(77))


def test_delegate_kernel_resolved_from_the_model_graph() -> None:
    graph = json.loads(GRAPH.read_text(encoding="utf-8"))["operators"]
    op_inputs = [op["inputs"] for op in graph]
    op_outputs = [op["outputs"] for op in graph]
    # the CPU run names each operator after its output tensors, exactly as the model does
    cpu = parse_run_order(_text(CPU))
    assert all(n.outputs == tuple(op_outputs[n.node_index]) for n in cpu)
    assert all(n.node_type == graph[n.node_index]["opcode"] for n in cpu)
    resolved = resolve_delegate_kernels(parse_run_order(_text(GPU)), op_inputs, op_outputs)
    assert resolved[0].op_indices == tuple(range(77))


def test_nnapi_partitions_without_the_model_stay_unattributed() -> None:
    nodes = parse_run_order(_text(NNAPI))
    assert len(nodes) == 8
    kernels = [n for n in nodes if n.kind is NodeKind.DELEGATE_KERNEL]
    assert [k.node_index for k in kernels] == [71, 72, 73]
    assert kernels[0].outputs == ("MobilenetV2/expanded_conv_16/project/add_fold", "aspp0/Relu")
    plain = [n.node_index for n in nodes if n.kind is NodeKind.OPERATOR]
    assert plain == [61, 63, 68, 69, 70]
    attr = attribute_to_operators(nodes)
    assert attr.num_ops == 71
    assert attr.per_op_ms[69] == pytest.approx(22.369)
    assert attr.groups == []  # three partitions: which op is in which needs the graph
    assert attr.unattributed_ms == pytest.approx(11.422 + 0.654 + 1.386)
    splits = cumulative_by_split(attr)
    assert len(splits) == 72
    assert splits[0].head_ms == 0.0 and splits[0].tail_ms is None
    assert splits[71].tail_ms == 0.0 and splits[71].head_ms is None
    assert "operators 0-60,62,64-67 have no row of their own" in splits[30].undetermined_by


def test_cumulative_times_by_split_point() -> None:
    attr = attribute_to_operators(parse_run_order(_text(CPU)), num_ops=77)
    splits = cumulative_by_split(attr)
    assert [s.k for s in splits] == list(range(78))
    # ops 0..4: 1.502 + 0.190 + 0.216 + 0.123 + 0.235
    assert splits[5].head_ms == pytest.approx(2.266)
    assert splits[5].head_ms + splits[5].tail_ms == pytest.approx(splits[77].head_ms)
    assert splits[77].tail_ms == pytest.approx(0.0)
    assert all(s.undetermined_by == () for s in splits)


def test_split_inside_a_delegate_partition_is_undetermined() -> None:
    splits = cumulative_by_split(attribute_to_operators(parse_run_order(_text(GPU))))
    assert (splits[0].head_ms, splits[0].tail_ms) == (0.0, pytest.approx(8.671))
    assert splits[77].head_ms == pytest.approx(8.671)
    assert all(s.head_ms is None and s.tail_ms is None for s in splits[1:77])
    assert splits[40].undetermined_by == ("[Identity]:77",)


def test_newer_layout_delegate_ops_are_reported_not_attributed() -> None:
    attr = attribute_to_operators(parse_run_order(_text(TC2)), num_ops=115)
    # the TFLite rows: [concat_1]:108, [concat]:112, TFLite_Detection_PostProcess :114
    assert set(attr.per_op_ms) == {108, 112, 114}
    assert len(attr.unattributed) == 112
    assert attr.unattributed_ms > 5.0  # XNNPACK time that no TFLite operator index can carry


def test_run_order_csv_export() -> None:
    lines = run_order_to_csv(parse_run_order(_text(GPU))).splitlines()
    assert lines[0] == "node_type,name,first_ms,avg_ms,op_indices"
    assert lines[1].startswith("TfLiteGpuDelegateV2,[Identity]:77,8.317,8.671,0;1;2;")
    assert lines[1].endswith(";75;76")
    nnapi = run_order_to_csv(parse_run_order(_text(NNAPI))).splitlines()
    assert nnapi[1].startswith('TfLiteNnapiDelegate,"[MobilenetV2/expanded_conv_16/project/')
    assert nnapi[1].endswith(",11.665,11.422,")  # a partition the profile cannot name
    assert nnapi[2] == "AVERAGE_POOL_2D,[AvgPool2D/AvgPool]:61,0.075,0.08,61"


def test_profiling_csv_rows() -> None:
    """No published ``--profiling_output_csv_file`` file was found; these lines follow the CSV
    form of TensorFlow's stats_calculator.cc, filled with the NNAPI fixture's first rows, in both
    column layouts (with and without ``start``)."""
    csv_text = (
        "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
        "============================== Run Order ==============================\n"
        "node type, start, first, avg_ms, %, cdf%, mem KB, times called, name\n"
        "TfLiteNnapiDelegate, 0, 11.665, 11.422, 21.939%, 21.939%, 0, 1, "
        "[MobilenetV2/expanded_conv_16/project/add_fold, aspp0/Relu]:71\n"
        "AVERAGE_POOL_2D, 11.422, 0.075, 0.08, 0.153%, 22.092%, 0, 1, [AvgPool2D/AvgPool]:61\n"
        "\n"
        "============================== Top by Computation Time ==============================\n"
        "node type, start, first, avg_ms, %, cdf%, mem KB, times called, name\n"
        "TfLiteNnapiDelegate, 0, 11.665, 11.422, 21.939%, 21.939%, 0, 1, [x]:71\n"
    )
    nodes = parse_run_order(csv_text)
    assert [n.name for n in nodes] == [
        "[MobilenetV2/expanded_conv_16/project/add_fold, aspp0/Relu]:71",
        "[AvgPool2D/AvgPool]:61",
    ]
    assert nodes[0].outputs == ("MobilenetV2/expanded_conv_16/project/add_fold", "aspp0/Relu")
    newer = csv_text.replace("node type, start,", "node type,").replace(", 0, 11.665", ", 11.665")
    assert parse_run_order(newer)[0].start_ms is None


def test_malformed_row_is_one_clear_line() -> None:
    broken = _text(CPU).replace("\t    0.239\t    0.190\t", "\t    0.239\t    oops\t", 1)
    with pytest.raises(ProfileFormatError) as info:
        parse_run_order(broken)
    message = str(info.value)
    assert isinstance(info.value, SplitbenchError)
    assert message.startswith("line 73: cannot read this Run Order row")
    assert "\n" not in message


def test_stdout_without_op_profiling_is_refused(tmp_path: Path) -> None:
    head = _text(CPU).split("Profiling Info for Benchmark Initialization")[0]
    path = tmp_path / "no_profile.txt"
    path.write_text(head, encoding="utf-8")
    with pytest.raises(ProfileFormatError, match="--enable_op_profiling=true"):
        read_run_order(path)
    with pytest.raises(ProfileFormatError, match="cannot read profile"):
        read_run_order(tmp_path / "missing.txt")
