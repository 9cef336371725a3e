"""Benchmark: host-side cost per measured part with 1, 4 and 8 emulated phones over 2 adb servers.

Issue 11's target: the host side's cost per measured part — everything except the runner's own
time on the phone: pushes, polling, pulls, parsing, database writes — is at most 50 ms with one
phone, and is printed with the machine's load for 4 and 8 phones.

For each phone count the script starts two adb servers as real processes (``splitbench
emulator start`` on two loopback ports; the phones split between them, the first server gets
the odd one) and runs one sweep with ``--clients all`` over both servers in this process,
through the same library calls the CLI makes. Each phone target keeps, per batch, its wall time,
the wall time of the runner's own adb call (the part running on the phone), and the CPU time
this process's worker thread spent on the batch; the sweep keeps the time its measurements spent
being written to the database. Per measured part:

* ``host wall`` = (batch wall − runner call) + database write: what the host side adds to each
  part's latency, waiting included;
* ``after set-up``: the same without each phone's first batch, which also carries the phone's
  one-off set-up (reading its facts, pushing the runner; shown per phone as ``set-up``);
* ``host CPU`` = the worker thread's CPU time per part: the host side's own work. Where
  ``host wall`` grows with the number of phones while ``host CPU`` stays flat, the growth is
  waiting — for the CPU (on two cores the emulated phones' runners, the host tails and the
  sweep share the same cores), for the GIL, for the database lock — not more work per part.

Tails run on this host (as in a normal sweep), so the CPU also serves them. The machine's load
and who used the CPUs are printed beside every figure, as are the bytes pushed per phone.

One phone runs against one server (there is nothing to spread). Run:
``python benchmarks/bench_pool.py`` (a few minutes on two cores); ``--phones 1,4`` for a
subset, ``--layers N`` for the model's depth (N convolutions: N + 1 parts per phone).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_load import cpu_snapshot, load_line

SPLITBENCH = Path(sys.executable).parent / "splitbench"


def deep_chain(layers: int) -> bytes:
    """A small float32 convolution chain: ``layers`` operators, one tensor per cut."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    inp = keras.Input((32, 32, 8), batch_size=1, name="image")
    x = inp
    for _ in range(layers):
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu6")(x)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, x))
    return converter.convert()


def cpu_line(before: dict[str, float], after: dict[str, float], own: float, wall: float) -> str:
    """How busy both cores were: this process (the sweep, with the host tails) and all."""
    d = {k: after[k] - before[k] for k in after if not k.startswith("guest")}
    steal = d.get("steal", 0.0)
    busy = sum(d.values()) - d["idle"] - d.get("iowait", 0.0) - steal
    cores = os.cpu_count() or 1
    return (
        f"CPU during the sweep: this process {own:.0f} CPU-s, all processes {busy:.0f} CPU-s "
        f"({busy / wall:.2f} of {cores} cores busy), steal {100 * steal / (wall * cores):.1f} %"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(serials: list[str], root: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    args = [str(SPLITBENCH), "emulator", "start", "--port", str(port), "--root", str(root)]
    for serial in serials:
        args += ["--serial", serial]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if f"127.0.0.1:{port}" not in line:
        raise SystemExit(
            f"emulator did not start: {line} {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, f"127.0.0.1:{port}"


def run_one(phones: int, model: Path, work: Path) -> dict[str, float | str]:
    from splitbench.measure.types import RunSettings
    from splitbench.rundir import run_directory
    from splitbench.sweep import Sweep
    from splitbench.sweep_plan import SweepPlan
    from splitbench.targets.factory import AdbOptions, make_target, resolve_targets

    first = [f"pa-{i}" for i in range((phones + 1) // 2)]
    second = [f"pb-{i}" for i in range(phones // 2)]
    procs = []
    try:
        addresses = []
        for serials, name in ((first, "a"), (second, "b")):
            if serials:  # one phone: one server
                proc, address = start_server(serials, work / f"{name}{phones}")
                procs.append(proc)
                addresses.append(address)
        adb = AdbOptions(adb_servers=tuple(addresses))
        chosen = resolve_targets(["all"], "host", adb)
        out = work / f"run{phones}"
        targets = {
            name: make_target(name, run_dir=out, adb=adb, phone=chosen.phones[name])
            for name in chosen.clients
        }
        host = make_target("host", run_dir=out, adb=adb)
        settings = RunSettings(
            threads=1, warmup_runs=0, warmup_min_secs=0.0, num_runs=2, min_secs=0.0
        )
        plan = SweepPlan(
            model_path=model, model_name="deep_chain", out_dir=out, settings=settings, rounds=1
        )
        sweep = Sweep(plan, targets, ("host", host))
        load_before = load_line()
        before = cpu_snapshot()[0]
        own0 = time.process_time()
        started = time.perf_counter()
        with run_directory(out):  # prepared and locked, as every command takes it
            outcome = sweep.run()
        wall = time.perf_counter() - started
        own = time.process_time() - own0
        after = cpu_snapshot()[0]
        stats = [t.stats for t in targets.values()]  # type: ignore[attr-defined]
        parts = sum(s.parts for s in stats)
        host_wall = sum(s.total_s - s.runner_s for s in stats) / parts
        later = parts - len(stats)  # every batch but each phone's first (its one-off set-up)
        steady = sum(s.total_s - s.first_s - s.runner_s for s in stats) / max(1, later)
        setup = sum(s.first_s for s in stats) / len(stats)
        runner = sum(s.runner_s for s in stats) / parts
        cpu = sum(s.cpu_s for s in stats) / parts
        db = outcome.db_s / max(1, outcome.measured)
        pushed = ", ".join(
            f"{name} {t.bytes_pushed / 1e3:.0f} kB"  # type: ignore[attr-defined]
            for name, t in targets.items()
        )
        return {
            "phones": phones,
            "servers": len(addresses),
            "parts": parts,
            "host_wall_ms": 1000 * (host_wall + db),
            "steady_ms": 1000 * (steady + db),
            "setup_s": setup,
            "db_ms": 1000 * db,
            "host_cpu_ms": 1000 * cpu,
            "runner_ms": 1000 * runner,
            "wall_s": wall,
            "stopped": len(outcome.stopped),
            "pushed": pushed,
            "load_before": load_before,
            "load_after": load_line(),
            "cpu": cpu_line(before, after, own, wall),
        }
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", default="1,4,8", help="phone counts to run (default 1,4,8)")
    parser.add_argument("--layers", type=int, default=12, help="convolutions in the model")
    args = parser.parse_args()
    counts = [int(n) for n in args.phones.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        work = Path(tmp)
        model = work / "deep_chain.tflite"
        model.write_bytes(deep_chain(args.layers))
        print(
            f"model: {args.layers} convolutions, {model.stat().st_size} bytes, "
            f"{args.layers + 1} parts per phone (the whole model and {args.layers} heads)"
        )
        results = [run_one(n, model, work) for n in counts]
    print()
    print(
        "phones servers parts  host wall/part  (after set-up)  (db write)  host CPU/part"
        "  runner/part  set-up/phone  sweep wall"
    )
    for r in results:
        print(
            f"{r['phones']:>6} {r['servers']:>7} {r['parts']:>5}  {r['host_wall_ms']:>11.1f} ms"
            f"  ({r['steady_ms']:>9.1f} ms)  ({r['db_ms']:>5.1f} ms)  {r['host_cpu_ms']:>10.1f} ms"
            f"  {r['runner_ms']:>8.0f} ms  {r['setup_s']:>10.2f} s  {r['wall_s']:>8.1f} s"
        )
    for r in results:
        print(f"\n{r['phones']} phone(s): {r['cpu']}")
        print(f"  before: {r['load_before']}; after: {r['load_after']}")
        print(f"  bytes pushed: {r['pushed']}")
        if r["stopped"]:
            print(f"  {r['stopped']} phone(s) stopped during the sweep")
    one = results[0]
    if one["phones"] == 1:
        verdict = "met" if float(one["host_wall_ms"]) <= 50 else "NOT met"
        print(
            f"\none phone: host-side cost {float(one['host_wall_ms']):.1f} ms per part "
            f"(target <= 50 ms): {verdict}"
        )
    for r in results[1:]:
        growth = float(r["host_wall_ms"]) - float(one["host_wall_ms"])
        work_growth = float(r["host_cpu_ms"]) - float(one["host_cpu_ms"])
        print(
            f"{r['phones']} phones: host wall per part {growth:+.1f} ms against one phone, of "
            f"which host CPU per part {work_growth:+.1f} ms; the rest "
            f"({growth - work_growth:+.1f} ms) is waiting (CPU, GIL, database lock) — "
            "contention, not more work per part"
        )


if __name__ == "__main__":
    main()
