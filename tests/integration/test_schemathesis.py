"""The OpenAPI document is a contract the gateway keeps: schemathesis against the live gateway.

Issue 10 #8: `schemathesis --checks all` found server errors, statuses the document did not
declare (400/403/404/302/307/202/410/413) and unknown query parameters silently accepted.  This
runs the same engine the CLI runs (every phase: examples, coverage, fuzzing, stateful; every
check, plus `stac_error_bodies` below) through schemathesis's Python API, on the session's
sandbox gateway, with a bounded, deterministic example budget: the same requests every run,
well under a minute and a half.

One deliberate setting: `positive_data_acceptance` also accepts 400.  OpenAPI types STAC's query
parameters as plain strings; it cannot state their grammars (CQL2, GeoJSON, RFC 3339
intervals, signed paging tokens) or the rules across them (sortby needs one provider), so a
schema-valid string is often a bad query, and a 400 saying why is the right answer.  What must
hold instead is checked by `stac_error_bodies`: every error is a JSON `{code, description}`.

The gateway under test is the session's sandbox wired like the `gateway` fixture, but with
`max_limit = 50`.  Fuzzed searches ask for `limit=230469500` with a filter nothing matches: the
engine then scans its full 20 upstream pages of 2,000 items from both providers, a 200 after
~55 s (a latency finding for the search engine, not a contract failure).  A smaller page keeps
each such scan to a few seconds; it changes no status the gateway answers.
"""

from __future__ import annotations

import collections
import time

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from stacbridge.app import create_app
from stacbridge.sandbox.server import ServerThread

pytestmark = pytest.mark.slow

CONFIG = """
request-timeout = 30

[generation]
deterministic = true
max-examples = 20

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]

[phases.stateful]
max-steps = 8
"""


@schemathesis.check
def stac_error_bodies(ctx, response, case) -> None:
    """Every 4xx/5xx is a STAC error: JSON, with a `code` and a `description` that is not empty."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"error served as {content_type!r}"
    body = response.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("description"), str) and body["description"].strip(), body


def run_schemathesis(url: str) -> dict:
    """Run every phase and check; the failures by (operation, check, title), and the totals."""
    schema = schemathesis.openapi.from_url(f"{url}/api", config=SchemathesisConfig.from_str(CONFIG))
    started = time.monotonic()
    failures: collections.Counter[tuple[str, str, str]] = collections.Counter()
    examples: dict[tuple[str, str, str], str] = {}
    checks: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    cases = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            cases += len(recorder.cases)
            for case_id, nodes in recorder.checks.items():
                for node in nodes:
                    checks[node.name] += 1
                    if node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    key = (recorder.label, node.name, getattr(failure, "title", type(failure)))
                    failures[key] += 1
                    examples.setdefault(key, node.failure_info.code_sample or case_id)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            errors.append(f"{getattr(event, 'label', 'engine')}: {getattr(event, 'value', event)}")
    return {
        "cases": cases,
        "seconds": round(time.monotonic() - started, 1),
        "checks": dict(checks),
        "failures": failures,
        "examples": examples,
        "errors": errors,
    }


@pytest.fixture(scope="module")
def small_page_gateway(sandbox):
    app = create_app(sandbox.settings(secret_keys=["test-key"], max_limit=50))
    with ServerThread(app) as server:
        yield server.url


def test_the_gateway_keeps_its_openapi_contract(small_page_gateway):
    result = run_schemathesis(small_page_gateway)
    report = "\n".join(
        f"{count}× {op} {check}: {title}\n    {result['examples'][(op, check, title)]}"
        for (op, check, title), count in sorted(result["failures"].items())
    )
    print(f"schemathesis: {result['cases']} cases in {result['seconds']} s; {result['checks']}")
    assert result["cases"] > 300, result  # the budget was really spent
    assert "not_a_server_error" in result["checks"] and "stac_error_bodies" in result["checks"]
    assert not result["failures"], report
    assert not result["errors"], result["errors"]
