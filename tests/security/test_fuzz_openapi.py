"""The published OpenAPI schema holds, and every operation in it survives fuzzing.

`/openapi.json` is generated without a warning and validates. Then Schemathesis fuzzes every
operation of that schema against the real app (in process, through WSGI), as library A's key,
with the path parameters pinned to library A's seeded objects (and some that do not exist), so
requests reach real books, jobs, patrons, submissions and keys. Each answer must:

- not be a server error (5xx);
- conform to the schema: a documented status code, the documented content type, a body and
  headers matching the documented schemas;
- need its credentials: the same request without a key, or with a bad one, fails
  (Schemathesis' `ignored_auth`);
- stay inside library A (`peers_are_isolated`, below): wherever library A's key got a 2xx,
  library B's key on the same URL is the "Tenant not found" 404, and library B's key on its own
  URL with library A's object ids is a 404.

Schemathesis 4.32's own object-level authorization check (WFC auth documents with `peers`)
only compares objects a stateful run created or listed, so the peer check is written here and
runs on every example. Schemathesis' lazy pytest integration (`from_fixture`) does not run on
pytest 9, so each operation's cases are drawn with Hypothesis directly (`operation.as_strategy`),
positive and negative, and every operation's failures are reported together.

The seed is fixed (derandomize) and the number of examples small, so a run takes seconds and
always sends the same requests; raise FUZZ_EXAMPLES locally to dig deeper.
"""

from __future__ import annotations

import os
import warnings

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import olcs
from tests.conftest import bearer
from tests.security.conftest import Seeded

pytestmark = pytest.mark.django_db

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
MISSING_ID = "987654321"


def test_the_schema_generates_without_warnings_and_validates():
    """What `manage.py spectacular --validate --fail-on-warn` checks (make schema-check), as a test."""
    GENERATOR_STATS.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = SchemaGenerator(api_version=olcs.__version__).get_schema(request=None, public=True)

    assert not GENERATOR_STATS, [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    validate_schema(schema)  # raises on an invalid OpenAPI 3 document
    operations = [(method, path) for path, item in schema["paths"].items() for method in item]
    assert len(operations) >= 30


def test_the_served_schema_validates():
    served = Client().get("/openapi.json")

    assert served.status_code == 200
    assert served["Content-Type"].startswith("application/vnd.oai.openapi+json")
    validate_schema(served.json())


# --- Fuzzing --------------------------------------------------------------------------------------


def pin_path_parameters(raw: dict, seeded: Seeded) -> None:
    """Path parameters take library A's real ids (and one that does not exist), not random text."""
    samples = {
        "slug": [seeded.slug],
        "book_id": [*seeded.ids("books"), MISSING_ID],
        "number": ["1", "2", "3"],
        "a": ["1", "2"],
        "b": ["1", "2", "3"],
        "job_id": [*seeded.ids("jobs"), MISSING_ID],
        # Not the key the fuzzer authenticates with: revoking it would end the run.
        "key_id": [*(str(key.pk) for key in seeded.keys), MISSING_ID],
        "patron_id": [*seeded.ids("patrons"), MISSING_ID],
        "submission_id": [*seeded.ids("submissions"), MISSING_ID],
    }
    for path, item in raw["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "path":
                    continue
                name = parameter["name"]
                assert name in samples, f"{method.upper()} {path}: no sample values for {{{name}}}"
                parameter["schema"] = {"type": "string", "enum": samples[name]}


@pytest.fixture
def api_schema(seeded_a, seeded_b, platform_key, fake_ol):
    raw = Client().get("/openapi.json").json()
    pin_path_parameters(raw, seeded_a)
    schema = schemathesis.openapi.from_dict(raw, config=SchemathesisConfig())
    schema.app = get_wsgi_application()
    # Requests go through Django's real WSGI handler, whose end-of-request hook closes a
    # connection found inside a transaction: the test's own. Django's test client unhooks it too.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schema
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def credentials_for(case, seeded_a: Seeded, platform_key) -> dict[str, str]:
    # Creating a library is for platform keys: fuzz it with one, so its 201 is reached too.
    raw = platform_key.raw if (case.method, case.path) == ("POST", "/tenants/") else seeded_a.library.raw_key
    return {"Authorization": bearer(raw)["HTTP_AUTHORIZATION"]}


def peers_are_isolated(seeded_a: Seeded, seeded_b: Seeded):
    """A check: library B's key never gets at what library A's key got at."""
    b_auth = {"Authorization": bearer(seeded_b.library.raw_key)["HTTP_AUTHORIZATION"]}

    def check(ctx, response, case) -> None:
        # Where library A's key got in, library B's key must not: the door, then the objects.
        if not 200 <= response.status_code < 300 or (case.path_parameters or {}).get("slug") != seeded_a.slug:
            return
        on_a = case.derive()
        on_a.headers.pop("Authorization", None)
        answer = on_a.call(headers=b_auth)
        assert answer.status_code == 404, (
            f"library B's key on {case.method} {case.formatted_path}: {answer.status_code} {answer.text[:300]}"
        )
        assert answer.json() == {"detail": "Tenant not found", "code": "not_found"}, answer.text[:300]
        if len(case.path_parameters) == 1:
            return
        on_b = case.derive()
        on_b.headers.pop("Authorization", None)
        on_b.path_parameters = {**case.path_parameters, "slug": seeded_b.slug}
        answer = on_b.call(headers=b_auth)
        assert answer.status_code == 404, (
            f"{on_b.method} {on_b.formatted_path} with library A's ids, as library B: "
            f"{answer.status_code} {answer.text[:300]}"
        )

    check.__name__ = "peers_are_isolated"
    return check


def describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(describe(inner) for inner in exc.exceptions)
    return str(exc)[:1500]


def fuzz(operation, mode: GenerationMode, send) -> int:
    """Run `send` on generated cases of one operation; returns how many were sent."""
    sent = []

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @FUZZ_SETTINGS
    def run(case) -> None:
        sent.append(case)
        send(case)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Negative mode on an operation with no parameters and no body: nothing can be made invalid.
        if mode is GenerationMode.POSITIVE or operation.path_parameters or operation.query or operation.body:
            raise
    return len(sent)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation_survives_fuzzing(api_schema, seeded_a, seeded_b, platform_key, mode):
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
        ignored_auth,
        peers_are_isolated(seeded_a, seeded_b),
    ]
    failures: dict[str, str] = {}
    examples: dict[str, int] = {}

    def send(case) -> None:
        case.call_and_validate(headers=credentials_for(case, seeded_a, platform_key), checks=checks)

    for result in api_schema.get_all_operations():
        operation = result.ok()
        try:
            examples[operation.label] = fuzz(operation, mode, send)
        # Schemathesis raises a group of failures; every operation is fuzzed, then all are reported.
        except (Exception, BaseExceptionGroup) as exc:
            failures[operation.label] = f"{type(exc).__name__}: {describe(exc)}"

    assert failures == {}, "\n\n".join(f"{label}\n{text}" for label, text in failures.items())
    assert len(examples) >= 30, examples
    assert mode is GenerationMode.NEGATIVE or all(examples.values()), examples
    print(f"{mode}: {len(examples)} operations, {sum(examples.values())} examples")
