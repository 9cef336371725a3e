"""Stage orchestration: model → graph → cut plan → parts → measurements → results DB.

Splits are processed one at a time (parts made, checked, measured, then deleted unless kept),
so memory and disk do not grow with the number of splits. Every finished measurement is
committed to the results database the moment it finishes; a rerun asks the database what is
already done and measures only what is missing.

Measurements of different physical targets run in parallel (one lane per phone); targets that
share a machine (``host`` as client and as server) share one lane so they never compete for
the same cores. A target that fails itself (a phone unplugged, its adb server gone) stops only
its own lane: the others finish, and the outcome says which targets stopped and why.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from splitbench.cutplan import Cut, output_bytes, plan_cuts
from splitbench.errors import DeviceError, ModelError, SplitbenchError
from splitbench.graph import ModelGraph, load_graph
from splitbench.kept_parts import KeptParts
from splitbench.measure.background import QuietHost
from splitbench.measure.inputs import make_inputs
from splitbench.measure.pictures import (
    inputs_from_pictures,
    make_pictures,
)
from splitbench.measure.types import PartMeasurement
from splitbench.predict import NoPrediction, Prediction, predictions_for_target
from splitbench.results import ResultsDB
from splitbench.results.store import DB_NAME
from splitbench.run_record import RunRecord
from splitbench.rundir import (
    RunDirError,
    make_scratch,
    os_error_line,
    remove_scratch,
)
from splitbench.splitter import ModelSplitter
from splitbench.sweep_plan import (
    Job,
    ProgressHook,
    SweepOutcome,
    SweepPlan,
    anchor_codecs_for,
    best_predicted_splits,
    select_splits,
)
from splitbench.sweep_race import RaceBouts
from splitbench.targets.base import Target, lane_key
from splitbench.verify import verify_parts


class Sweep(RaceBouts):
    """Runs one sweep plan against a set of client targets and one server target."""

    # Opened by run(), after the plan's checks (see _open_db).
    db: ResultsDB
    settings_hash: str

    def __init__(
        self,
        plan: SweepPlan,
        clients: dict[str, Target],
        server: tuple[str, Target],
        *,
        fresh: bool = False,
        on_progress: ProgressHook | None = None,
        on_event: Callable[[str], None] | None = None,
        on_race: Callable[[str], None] | None = None,
    ) -> None:
        self.plan = plan
        self.on_event = on_event or (lambda line: None)
        self.on_race = on_race or (lambda line: None)  # --strategy race: state after each bout
        self._started = time.monotonic()
        self.clients = clients
        self.server_name, self.server = server
        self.on_progress = on_progress or (lambda stage, done, total: None)
        self.db_path = plan.out_dir / DB_NAME
        self.fresh = fresh  # cleared under the run lock, never while another sweep writes
        self._reference: list | None = None  # whole-model outputs on the check inputs
        self._db_lock = threading.Lock()
        # Parts that failed in this process: retried by the next run, not by the next bout.
        self._failed_here: set[tuple[int | None, str, str]] = set()
        # Timed runs on this host stop the sweep's background workers (ExecuTorch lowering)
        # and take turns; run.json says what that cost (measure.background).
        self.quiet = QuietHost()

    # -- stages -------------------------------------------------------------------------------
    def run(self) -> SweepOutcome:
        """Measure what is missing, in a run directory the caller holds
        (:func:`splitbench.rundir.run_directory`: prepared and locked)."""
        return self._run()

    def _open_db(self) -> None:
        """The results database, created only once every check of the plan has passed."""
        self.db = ResultsDB(self.db_path)
        self.settings_hash = self.db.record_settings(self.plan.settings, self.plan.rounds)

    def _run(self) -> SweepOutcome:
        started = time.perf_counter()
        self._started = time.monotonic()
        graph = load_graph(self.plan.model_path, self.plan.input_shapes)
        cuts = plan_cuts(graph)
        # Everything that can refuse the plan comes before the first write into the run
        # directory: a refused sweep leaves no run.json, no database, and an existing run
        # directory as it was.
        splits = select_splits(graph, self.plan.splits)
        record = RunRecord(
            model_name=self.plan.model_name,
            model_sha=graph.sha256,
            model_path=str(self.plan.model_path),
            clients=list(self.clients),
            server=self.server_name,
            output_bytes=output_bytes(graph),
            num_operators=graph.num_operators,
            splits=None if self.plan.splits is None else sorted(set(self.plan.splits)),
            model_source=self.plan.model_source,
            settings=self.plan.asked,
        )
        record.merged_with(self.plan.out_dir)  # one run directory, one model
        self._refuse_phones_for(graph)
        # Inputs too: a bad --inputs folder must fail before anything is measured. An image
        # model is fed real photographs (or the user's pictures), which the anchors code.
        pictures = make_pictures(
            self.plan.model_path,
            inputs_dir=self.plan.inputs_dir,
            count=self.plan.verify_inputs,
            scale=self.plan.input_scale,
        )
        anchor_specs = anchor_codecs_for(self.plan.anchor_codecs, pictures, self.plan.inputs_dir)
        if pictures is None:
            input_sets = make_inputs(
                self.plan.model_path,
                inputs_dir=None,
                count=self.plan.verify_inputs,
                seed=self.plan.seed,
            )
        else:
            input_sets = inputs_from_pictures(self.plan.model_path, pictures, seed=self.plan.seed)
            record = replace(record, inputs=pictures.describe())
        self._open_db()
        if self.fresh:
            self.db.clear()  # the codec rows too: they are part of the schema
            self.fresh = False
        outcome = SweepOutcome(
            graph=graph,
            model_name=self.plan.model_name,
            db_path=self.db_path,
            rounds=self.plan.rounds,
            settings_hash=self.settings_hash,
        )
        outcome.anchors = [spec.label for spec in anchor_specs]
        record.save(self.plan.out_dir)
        self.db.record_model(
            sha256=graph.sha256,
            name=self.plan.model_name,
            path=str(self.plan.model_path),
            file_bytes=graph.file_bytes,
            num_operators=graph.num_operators,
        )
        for name, target in self._all_targets().items():
            try:
                self.db.record_target(target.describe())
            except DeviceError as exc:
                if name == self.server_name:
                    raise
                self._stop(name, exc, outcome)
        outcome.requested_splits = list(splits)
        if self.plan.torch_export is not None:
            from splitbench.intake.convert_torch import conversion_max_abs_diff

            diff = conversion_max_abs_diff(self.plan.torch_export, self.plan.model_path, input_sets)
            outcome.conversion_max_abs_diff = diff
            record = replace(record, conversion_max_abs_diff=diff)
            record.save(self.plan.out_dir)
        lanes: dict[str, ThreadPoolExecutor] = {}
        try:
            for bout in range(self.plan.rounds):
                self.on_progress("whole model", bout, self.plan.rounds)
                self._measure_whole(graph, lanes, outcome, bout)
            self.on_progress("whole model", self.plan.rounds, self.plan.rounds)
            self._run_anchors(graph, anchor_specs, pictures, input_sets, outcome)
            if self.plan.strategy == "profile-then-verify":
                splits = [k for k in self._best_predicted(graph, cuts) if k in set(splits)]
                outcome.chosen_splits = splits
                outcome.requested_splits = list(splits)
            self._run_splits(graph, cuts, splits, input_sets, lanes, outcome)
        except KeyboardInterrupt:  # lanes blocked on a phone must not hold the interrupt
            for target in self._all_targets().values():
                target.abort()
            raise
        finally:
            for pool in lanes.values():
                pool.shutdown(wait=True, cancel_futures=True)
        # run.json names the splits this sweep had to measure (profile-then-verify's picks)
        # (race: where it stands) and how its timed runs were kept apart from its background work
        outcome.record = replace(
            record,
            splits=outcome.requested_splits,
            race=outcome.race,
            quiet=self.quiet.record(),
        )
        outcome.record.save(self.plan.out_dir)
        outcome.wall_s = time.perf_counter() - started
        return outcome

    def _run_anchors(self, graph, specs, pictures, input_sets, outcome) -> None:  # type: ignore[no-untyped-def]
        """The all-on-the-server anchors still missing from the database (a rerun resumes)."""
        from splitbench.anchor.stage import measure_anchor
        from splitbench.compress.runner import run_model

        started = time.perf_counter()
        done = self.db.anchor_results(graph.sha256)
        todo = [spec for spec in specs if spec.label not in done]
        for number, spec in enumerate(todo):
            self.on_progress("anchors", number, len(todo))
            try:
                if self._reference is None:
                    self._reference = run_model(self.plan.model_path, input_sets)
                result = measure_anchor(
                    spec,
                    model_path=self.plan.model_path,
                    pictures=pictures,
                    input_sets=input_sets,
                    reference=self._reference,
                )
            except (
                ModelError
            ) as exc:  # the whole model cannot run here: no anchor, the splits go on
                outcome.anchor_error = str(exc)
                break
            self.db.record_anchor(graph.sha256, result)
        if todo:
            self.on_progress("anchors", len(todo), len(todo))
        outcome.anchor_s += time.perf_counter() - started

    def _refuse_phones_for(self, graph: ModelGraph) -> None:
        """A target that cannot run this format's parts says so before anything is measured."""
        from splitbench.formats import get_format

        fmt = get_format(graph.format)
        for target in self._all_targets().values():
            reason = target.cannot_run(fmt)
            if reason is not None:
                raise SplitbenchError(reason)

    def _all_targets(self) -> dict[str, Target]:
        return {**self.clients, self.server_name: self.server}

    def _measure_whole(
        self,
        graph: ModelGraph,
        lanes: dict[str, ThreadPoolExecutor],
        outcome: SweepOutcome,
        bout: int,
    ) -> None:
        """Measure the whole model on every target: the anchors (all on the phone, all on the
        server), and, where the runner profiles per operator, the source of predictions."""
        jobs = [
            Job(None, "whole", target, name, self.plan.model_path, bout)
            for name, target in self._all_targets().items()
            if self._missing(graph, None, "whole", name, bout)
        ]
        self._run_jobs(graph, jobs, lanes, outcome)

    def _missing(
        self, graph: ModelGraph, split: int | None, role: str, name: str, bout: int
    ) -> bool:
        """Is bout number ``bout`` (0-based) of this part still to be measured?

        Only successful bouts count as done. A part that failed in this process is not tried
        again in its later bouts (an unresolved operator fails the same way every time), but
        the next run retries it — unless ``retry_failed`` is off, when a failure is final."""
        ok, failed = self.db.count_bouts(
            graph.sha256, split, role, name, self.plan.settings, rounds=self.plan.rounds
        )
        if not self.plan.retry_failed:
            return failed == 0 and ok <= bout
        return (split, role, name) not in self._failed_here and ok <= bout

    def predictions(self, graph: ModelGraph) -> dict[str, list[Prediction] | NoPrediction]:
        """Per target: split times predicted from its whole-model op profile of every bout, or
        why not."""
        return {
            name: predictions_for_target(
                self.db, graph, name, self.plan.out_dir, settings_hash=self.settings_hash
            )
            for name in self._all_targets()
        }

    def _best_predicted(self, graph: ModelGraph, cuts: list[Cut]) -> list[int]:
        """profile-then-verify: the splits that are best, by prediction, for at least one network
        configuration and one client."""
        preds = self.predictions(graph)
        for name, pred in preds.items():
            if isinstance(pred, NoPrediction):
                raise SplitbenchError(
                    f"profile-then-verify cannot predict on {name}: {pred.reason}"
                )
        server = preds[self.server_name]
        clients = [preds[name] for name in self.clients]
        return best_predicted_splits(
            graph,
            cuts,
            clients,  # type: ignore[arg-type]
            server,  # type: ignore[arg-type]
            list(self.plan.networks),
            self.plan.statistic,
        )

    def _run_splits(
        self,
        graph: ModelGraph,
        cuts: list[Cut],
        splits: list[int],
        input_sets: list[dict],
        lanes: dict[str, ThreadPoolExecutor],
        outcome: SweepOutcome,
    ) -> None:
        splitter = ModelSplitter(graph)
        workers = splitter.background_pids
        # Kept parts go where the user looks for them; others to this process's own scratch.
        if self.plan.keep_parts:
            parts_root = self.plan.out_dir / "parts"
        else:
            parts_root = make_scratch(self.plan.out_dir)
        # Each split's parts are written once and reused by its later bouts (within a budget).
        parts = KeptParts(splitter, parts_root, keep_files=self.plan.keep_parts)
        last = self.plan.rounds - 1
        try:
            # Formats whose parts are expensive to make (ExecuTorch lowering) start on all of
            # them at once, in worker processes, while the splits are checked and measured in
            # order; the workers stand still while a part is timed on this host. Inside the
            # try: an interrupt while the workers start must close them too (else the exit
            # waited for the parts they were lowering).
            splitter.prefetch(
                [k for k in splits if not self._split_complete(splitter, k, last)],
                jobs=self.plan.jobs,
            )
            self.quiet.watch(workers)
            if self.plan.strategy == "race":
                self._race(graph, cuts, splits, splitter, input_sets, parts, lanes, outcome)
                return
            for bout in range(self.plan.rounds):
                # Progress counts split points, one bar per bout (a count of parts times bouts
                # read as "splits 100/100" for 50 split points).
                stage = f"bout {bout + 1}/{self.plan.rounds}: splits"
                for done, k in enumerate(splits):
                    self.on_progress(stage, done, len(splits))
                    if bout == 0 and self._split_complete(splitter, k, last):
                        outcome.skipped += 1
                        continue
                    self._run_split(
                        graph, cuts[k], splitter, input_sets, parts, lanes, outcome, bout
                    )
                self.on_progress(stage, len(splits), len(splits))
        finally:
            self.quiet.unwatch(workers)
            splitter.close()  # an interrupted sweep does not wait for parts still lowering
            outcome.parts_written += parts.writes
            if not self.plan.keep_parts:
                remove_scratch(parts_root)
            elif parts_root.is_dir() and not any(parts_root.iterdir()):
                parts_root.rmdir()

    def _split_complete(self, splitter: ModelSplitter, k: int, bout: int) -> bool:
        return (
            self.db.has_split(splitter.graph.sha256, k)
            and not self._pending_jobs(splitter, k, {}, bout)
            and not self._codecs_missing(splitter, k)
        )

    def _codecs_missing(self, splitter: ModelSplitter, k: int) -> list[str]:
        """Codec kinds still to compute for split k (none at split N for the cut, none at
        split 0 for the delivery: nothing crosses, nothing is delivered)."""
        sha, n = splitter.graph.sha256, splitter.graph.num_operators
        missing = []
        cut, delivery = self.plan.cut_codec, self.plan.delivery_codec
        if cut and k < n and not self.db.has_codec(sha, k, "cut", cut.lower()):
            missing.append("cut")
        if (
            delivery
            and splitter.head_io(k) is not None
            and not self.db.has_codec(sha, k, "delivery", delivery)
        ):
            missing.append("delivery")
        return missing

    def _run_codecs(self, graph: ModelGraph, files, input_sets: list[dict], kinds) -> None:  # type: ignore[no-untyped-def]
        from splitbench.compress.runner import run_model
        from splitbench.compress.split_codecs import cut_codec_result, delivery_codec_result

        if self._reference is None:
            self._reference = run_model(self.plan.model_path, input_sets)
        k = files.split
        if "cut" in kinds and self.plan.cut_codec:
            result = cut_codec_result(
                self.plan.cut_codec,
                split=k,
                whole=self.plan.model_path,
                head=files.head_path,
                tail=files.tail_path,
                cut_names=list(files.cut.names),
                input_sets=input_sets,
                reference=self._reference,
                split_dir=files.split_dir,
            )
            if result.detail.get("parts"):  # fp16/int8 as TFLite ops: time them on the targets
                from splitbench.compress.split_codecs import measure_codec_ops

                here = any(t.runs_on_this_host() for t in self._all_targets().values())
                with self.quiet.timed(here):
                    result = measure_codec_ops(
                        result,
                        files.split_dir,
                        self.clients,
                        (self.server_name, self.server),
                        self.plan.settings,
                    )
            self.db.record_codec(graph.sha256, result)
        if "delivery" in kinds and self.plan.delivery_codec and files.head_path is not None:
            result = delivery_codec_result(
                self.plan.delivery_codec,
                split=k,
                head=files.head_path,
                tail=files.tail_path,
                input_sets=input_sets,
                reference=self._reference,
                work_dir=files.split_dir / "delivery",
            )
            self.db.record_codec(graph.sha256, result)

    def _pending_jobs(
        self, splitter: ModelSplitter, k: int, paths: dict[str, Path | None], bout: int
    ) -> list[Job]:
        """Measurements of split k not yet in the database. Empty parts (split 0's head, split
        N's tail, a part of weight-transforming operators only) have nothing to measure."""
        jobs: list[Job] = []
        wanted: list[tuple[str, str, Target]] = []
        graph = splitter.graph
        if splitter.head_io(k) is not None:
            wanted += [("head", name, t) for name, t in self.clients.items()]
        if splitter.tail_io(k) is not None:
            wanted.append(("tail", self.server_name, self.server))
        for role, name, target in wanted:
            if self._missing(graph, k, role, name, bout):
                jobs.append(Job(k, role, target, name, paths.get(role) or Path(), bout))
        return jobs

    def _run_split(
        self,
        graph: ModelGraph,
        cut: Cut,
        splitter: ModelSplitter,
        input_sets: list[dict],
        parts: KeptParts,
        lanes: dict[str, ThreadPoolExecutor],
        outcome: SweepOutcome,
        bout: int,
    ) -> None:
        k = cut.split
        later_bouts = bout < self.plan.rounds - 1
        split_done = self.db.has_split(graph.sha256, k)
        codecs = self._codecs_missing(splitter, k)
        if split_done and not codecs and not self._pending_jobs(splitter, k, {}, bout):
            parts.release(k, later_bouts=False)  # nothing of it left to measure in this run
            return
        try:
            files = parts.files(k)
        except OSError as exc:
            shutil.rmtree(splitter.split_dir(parts.root, k), ignore_errors=True)
            raise RunDirError(os_error_line(Path(exc.filename or parts.root), exc)) from None
        try:
            if not split_done:
                result = verify_parts(
                    self.plan.model_path, files.head_path, files.tail_path, input_sets
                )
                self.db.record_split(
                    model_sha=graph.sha256,
                    split=k,
                    cut_tensors=list(cut.names),
                    intermediate_bytes=cut.nbytes,
                    head_bytes=files.head_bytes,
                    tail_bytes=files.tail_bytes,
                    max_abs_diff=result.max_abs_diff,
                    bit_exact=result.bit_exact,
                    verify_passed=result.passed,
                    verify_error=result.error,
                )
            if codecs:
                self._run_codecs(graph, files, input_sets, codecs)
            jobs = self._pending_jobs(
                splitter, k, {"head": files.head_path, "tail": files.tail_path}, bout
            )
            self._run_jobs(graph, jobs, lanes, outcome)
        finally:
            parts.release(k, later_bouts=later_bouts)

    def _run_jobs(
        self,
        graph: ModelGraph,
        jobs: list[Job],
        lanes: dict[str, ThreadPoolExecutor],
        outcome: SweepOutcome,
    ) -> None:
        """Run jobs, one lane per physical target, and wait for all. A target that fails itself
        (:class:`DeviceError`: unplugged, its adb server gone) is stopped — its later jobs are
        skipped, the other lanes go on; any other failure is raised after every other lane has
        finished its job."""
        futures = []
        jobs = [job for job in jobs if job.target_name not in outcome.stopped]
        for job in jobs:
            pool = lanes.setdefault(lane_key(job.target_name), ThreadPoolExecutor(max_workers=1))
            futures.append(pool.submit(self._measure, graph, job, outcome))
        errors = [f.exception() for f in futures]
        for job, err in zip(jobs, errors, strict=True):
            if isinstance(err, DeviceError):
                self._stop(job.target_name, err, outcome)
        for err in errors:
            if err is not None and not isinstance(err, DeviceError):
                raise err
        if set(self._all_targets()) <= set(outcome.stopped):
            raise DeviceError("every target stopped: " + "; ".join(outcome.stopped.values()))

    def _stop(self, name: str, exc: DeviceError, outcome: SweepOutcome) -> None:
        if name not in outcome.stopped:
            outcome.stopped[name] = str(exc)
            self.on_event(f"{name}: {exc}")

    def _measure(self, graph: ModelGraph, job: Job, outcome: SweepOutcome) -> None:
        # The whole model also gets a per-operator profile where the target's runtime makes one
        # on request (ONNX Runtime, ExecuTorch on the host): the source of the predicted columns.
        with self.quiet.timed(job.target.runs_on_this_host()):
            started = datetime.now(UTC)
            measurement: PartMeasurement = job.target.measure(
                job.part, self.plan.settings, profile=job.role == "whole"
            )
            finished = datetime.now(UTC)
        writing = time.perf_counter()
        with self._db_lock:
            self.db.record_measurement(
                graph.sha256,
                job.split,
                job.role,
                job.target_name,
                measurement,
                evidence=measurement.evidence or None,
                started_at=started,
                finished_at=finished,
                conditions=measurement.meta or None,
                rounds=self.plan.rounds,
                bout=job.bout,
            )
            outcome.measured += 1
            outcome.inference_ms += measurement.measured_total_ms
            if measurement.error:
                self._failed_here.add((job.split, job.role, job.target_name))
                outcome.failed_parts.append(
                    f"{_where(job)} on {job.target_name}: {measurement.error}"
                )
            outcome.db_s += time.perf_counter() - writing


def _where(job: Job) -> str:
    return "whole model" if job.split is None else f"split {job.split} {job.role}"
