"""Capture one URL through the real pipeline, for the fault suite; also a memory probe.

`capture(runtime, url)` creates a one-source run and runs `worker.capture.pipeline.capture_one`
on it, returning the stored Evidence and CaptureRow (what a report would say).

As a program (`python -m tests.integration.fault_capture DATA_DIR URL`, with the fixture
web's proxy variables in the environment) it warms up on a healthy page, then captures
URL and prints one JSON line with the status, the problems and the peak-RSS growth the
kernel recorded during the capture (VmHWM reset just before it: an exact high-water
mark, not a sample).
"""

from __future__ import annotations

import gc
import itertools
import json
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

from schemas import Digest, Evidence, Source
from tests.fixtureweb.fault_pages import HEALTHY_PATH
from worker.capture import pipeline
from worker.runtime import Runtime, build_runtime
from worker.settings import Settings, load_settings
from worker.store import jobs
from worker.store.models import CaptureJob, CaptureRow, EvidenceRow

MIB = 1024 * 1024
_runs = itertools.count(1)


def fault_settings(data_dir: Path) -> Settings:
    """Small limits, so every fault ends fast: 3 s per fetch, 8 MiB bodies, no retries."""
    return load_settings(
        data_dir=data_dir,
        total_timeout=3,  # below the default connect/read timeouts: the deadline rules
        max_body_bytes=8 * MIB,
        retries=0,
        per_host_delay=0.0,  # politeness has its own tests; here every fault is one host
    )


@dataclass
class Captured:
    status: str
    evidence: Evidence
    capture: CaptureRow | None

    @property
    def problem_codes(self) -> set[str]:
        return {p.code.value for p in self.evidence.problems}


def capture(runtime: Runtime, url: str) -> Captured:
    run_id = f"fault-{next(_runs)}-{id(runtime)}"
    digest = Digest(
        id=run_id,
        title=run_id,
        year=2021,
        incidents=[],
        footnotes=[],
        sources=[Source(id=1, url=url, canonical_url=url, footnotes=[1])],
    )
    with runtime.sessions() as session:
        jobs.create_run(session, run_id, digest)
        job_id = session.query(CaptureJob).filter_by(run_id=run_id).one().id
    outcome = pipeline.capture_one(runtime, run_id, job_id, task_id=None)
    with runtime.sessions() as session:
        row = session.query(EvidenceRow).filter_by(job_id=job_id).one()
        evidence = Evidence.model_validate(row.data)
        stored = jobs.existing_capture(session, job_id)
        if stored is not None:
            session.expunge(stored)
    assert outcome.status == evidence.status
    return Captured(outcome.status, evidence, stored)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> tuple[int, str]:
    """Reset the kernel's peak-RSS mark (VmHWM) and return (current RSS KiB, method).

    Without a reset, `ru_maxrss` keeps the peak of the imports and the warm-up, and a
    capture that peaks below it would read as zero growth. Writing 5 to clear_refs
    (Linux >= 4.0) resets VmHWM to the current RSS.
    """
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss), "ru_maxrss"
    return _status_kib("VmHWM"), "VmHWM"


def _peak_kib(method: str) -> int:
    if method == "VmHWM":
        return _status_kib("VmHWM")
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


def main() -> None:  # pragma: no cover - run as a subprocess by test_faults
    data_dir, url = Path(sys.argv[1]), sys.argv[2]
    runtime = build_runtime(fault_settings(data_dir))
    try:
        warm = capture(runtime, "https://faults.test" + HEALTHY_PATH)  # imports, lazy init
        before, method = _reset_peak()
        got = capture(runtime, url)
        after = _peak_kib(method)
    finally:
        runtime.close()
    print(
        json.dumps(
            {
                "warmup": warm.status,
                "status": got.status,
                "error_kind": got.evidence.error_kind,
                "problems": [p.model_dump(mode="json") for p in got.evidence.problems],
                "method": method,
                "rss_before_kib": before,
                "peak_after_kib": after,
                "growth_kib": after - before,
            }
        )
    )


if __name__ == "__main__":
    main()
