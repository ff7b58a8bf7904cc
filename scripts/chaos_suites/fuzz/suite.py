"""Chaos suite "fuzz": schemathesis generates requests from the sidecar's own /openapi.json and
checks every answer against it (no 5xx, documented status, content type and body), against a
real sidecar process beside the Gameball simulator; then the hypothesis properties run."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from scripts.chaos_suites.fuzz.findings import Findings
from scripts.chaos_suites.fuzz.runs import CHECKS, PROPERTIES, fuzz, run_properties

MINIMUM_REQUESTS = {False: 1000, True: 100}


def main(quick: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="chaos-fuzz-") as tmp:
        results, access, alive, outside_spec = asyncio.run(fuzz(quick, Path(tmp)))
    findings = Findings()
    for _, found in results.values():
        findings.merge(found)
    schema_violations = findings.failed_checks["response_schema_conformance"]
    server_errors = max(findings.server_errors, access.server_errors)
    offline_answers = ", ".join(f"{c}={n}" for c, n in sorted(findings.unavailable.items()))
    print(
        f"fuzz: requests={findings.requests} server_errors={server_errors} "
        f"schema_violations={schema_violations} spec_violations={outside_spec}"
    )
    for name, (status, found) in results.items():
        print(
            f"fuzz:   Gameball {name}: requests={found.requests} seed={found.seed} "
            f"schemathesis_exit={status} statuses={dict(sorted(found.statuses.items()))}"
        )
    print(
        f"fuzz:   sidecar access log: requests={access.requests} 503={access.unavailable} "
        f"other_5xx={access.server_errors} "
        f"sidecar_error_lines={len(access.error_lines)} "
        f"aiohttp_parser_error_lines={access.parser_errors}"
    )
    print(f"fuzz:   documented retryable 503s (Gameball down): {offline_answers or 'none'}")
    for check in CHECKS:
        print(f"fuzz:   {check}: {findings.failed_checks[check]} failed")
    for failure in sorted(findings.failures):
        print(f"fuzz:   FAILURE {failure}")
    for error in findings.errors:
        print(f"fuzz:   ERROR {error}")
    for line in access.error_lines[:10]:
        print(f"fuzz:   sidecar logged an error: {line}")
    properties_ok, summary = run_properties()
    print(f"fuzz: properties ({' '.join(PROPERTIES)}): {summary}")
    minimum = MINIMUM_REQUESTS[quick]
    held = {
        f"at least {minimum} requests": findings.requests >= minimum,
        "no 5xx": server_errors == 0,
        "every check passed": not findings.failed_checks
        and all(status == 0 for status, _ in results.values()),
        "no schemathesis errors": not findings.errors,
        "no errors in the sidecar log": not access.error_lines,
        "sidecar still running": alive,
        "nothing sent to Gameball outside its spec": outside_spec == 0,
        "properties hold": properties_ok,
    }
    for name, ok in held.items():
        if not ok:
            print(f"fuzz: BROKEN: {name}")
    return all(held.values())
