"""The OpenAPI description of /api2/json, generated from the code, and schemathesis over it against a real
HTTPS server, as root and as a pool user: no input answers a 5xx, and every answer matches the description
(its status code, content type and body)."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from access.services import create_token
from tests.factories import PASSWORD, AdminFactory, GuestFactory, PoolFactory, UserFactory, grant
from tests.support import serve_asgi

# Examples per operation and subject, of valid input (checked against the description) and of invalid input
# (only no 5xx): the whole run stays within about two minutes on this machine.
EXAMPLES = {"positive": 3, "negative": 2}
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def fuzz_server(transactional_db, live_database_url, pki):
    # Generated logins fail by the hundred from one address: the throttle would refuse the fuzzer's own token.
    with serve_asgi(live_database_url, pki=pki, log="web-fuzz.log", PANEL_LOGIN_ADDRESS_LIMIT="1000000",
                    PANEL_LOGIN_FREE_TRIES="1000000") as url:
        yield url


def test_the_description_is_served_with_its_viewers_and_without_a_cdn(client) -> None:
    document = client.get("/api2/openapi.json").json()
    assert document["openapi"].startswith("3.") and "/api2/json/cluster/resources" in document["paths"]
    resources = document["paths"]["/api2/json/cluster/resources"]["get"]
    assert [p["name"] for p in resources["parameters"]] == ["type"]
    assert {"PVEAPIToken", "PVEAuthCookie"} <= set(document["components"]["securitySchemes"])
    for viewer in ("/api2/docs/", "/api2/redoc/"):
        page = client.get(viewer).content.decode()
        assert "/api2/openapi.json" in page and "/static/drf_spectacular_sidecar/" in page
        assert "cdn" not in page.lower() and "//unpkg" not in page
    assert client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200


def _runner(operation, mode: GenerationMode, checks: list, base_url: str, headers: dict[str, str]):
    @settings(max_examples=EXAMPLES[mode.value], deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=checks, verify=False, timeout=60)

    return run


def _fuzz(document: dict, base_url: str, headers: dict[str, str]) -> list[str]:
    # The fuzzer sends its own token: the security schemes must not make it generate other credentials.
    document = {**document, "components": {k: v for k, v in document["components"].items() if k != "securitySchemes"}}
    document["paths"] = {path: {method: {k: v for k, v in operation.items() if k != "security"}
                                for method, operation in item.items()} for path, item in document["paths"].items()}
    schema = schemathesis.openapi.from_dict(document)
    problems = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, checks in ((GenerationMode.POSITIVE, CONFORMANCE), (GenerationMode.NEGATIVE, [not_a_server_error])):
            try:
                _runner(operation, mode, checks, base_url, headers)()
            except Unsatisfiable:
                continue  # no invalid input exists for an operation without parameters
            except (Exception, BaseExceptionGroup) as exc:  # every operation is tried; failures reported together
                problems.append(f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"[:3000])
    return problems


def test_schemathesis_as_root_and_as_a_pool_user(fuzz_server, node) -> None:
    root = AdminFactory(username="root")
    pool = PoolFactory(name="fz-pool")
    for vmid, kind in ((300, "vm"), (301, "ct")):
        GuestFactory(node=node, kind=kind, vmid=vmid, pool=pool, state="stopped")
    GuestFactory(node=node, kind="ct", vmid=302, state="stopped")
    member = UserFactory(username="fzuser")
    grant(member, "PVEVMAdmin", "/pool/fz-pool")
    document = requests.get(f"{fuzz_server}/api2/openapi.json", verify=False, timeout=60).json()
    problems = []
    for subject in (root, member):
        token, secret = create_token(subject, "fuzz", privsep=False)
        headers = {"Authorization": f"PVEAPIToken={token.full_id}={secret}"}
        assert requests.get(f"{fuzz_server}/api2/json/version", headers=headers, verify=False,
                            timeout=60).status_code == 200
        problems += [f"{token.full_id}: {p}" for p in _fuzz(document, fuzz_server, headers)]
    assert not problems, "\n\n".join(problems)
    assert requests.post(f"{fuzz_server}/api2/json/access/ticket", data={"username": "root@pam", "password": PASSWORD},
                         verify=False, timeout=60).status_code == 200  # the fuzzing deleted nobody's login
