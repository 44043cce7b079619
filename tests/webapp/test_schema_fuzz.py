"""schemathesis against the API's own OpenAPI schema (issue 17, part 7): every
operation gets a bounded number of generated requests (valid and invalid
bodies, parameters and ids) through the WSGI application, as a signed-in user
with a token, valid and invalid ones; it fails on any 5xx, on a response that breaks its schema, and on
a content type the schema does not declare. Deterministic (derandomized), so CI
sees the same cases every run."""
from __future__ import annotations

import os

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

#: examples per operation (FRONTIER_FUZZ_EXAMPLES for a longer run)
EXAMPLES = int(os.environ.get("FRONTIER_FUZZ_EXAMPLES", 12))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def fuzz_token(db, profiles, user, media_root, no_queue, settings):
    from rest_framework.authtoken.models import Token

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "100000/min"}}
    return Token.objects.create(user=user).key


@pytest.fixture
def api_schema(fuzz_token):
    """The schema served to a signed-in client, and the app that serves it. Django closes the database
    connection at the end of each request; in a test transaction that must not happen (as in its test client)."""
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(),
                                             headers={"Authorization": f"Token {fuzz_token}"})
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_api_follows_its_schema(api_schema, fuzz_token):
    """Each operation in turn (schemathesis' pytest plugin does not run under pytest 9, so the loop is
    ours; the cases, calls and checks are schemathesis')."""
    failures, ran = [], []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        # valid requests and invalid ones (wrong types, out-of-range limit/offset, missing fields …)
        @given(case=operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(headers={"Authorization": f"Token {fuzz_token}"}, checks=CHECKS)

        try:
            check()
        except Exception as e:  # noqa: BLE001 - every failing operation is reported, not only the first
            failures.append(f"{operation.label}: {str(e)[:1500]}")
        ran.append(operation.label)
    assert len(ran) >= 20, ran
    assert not failures, "\n\n".join(failures)
