"""The API's own cost: one GET /api2/json/cluster/resources at 10,000 guests over a real ASGI server (with a
Proxmox API token, as a client sends it) against the same data built by the service alone
(cluster.resources.cluster_resources) in this process. The ratio is what authentication, the view, JSON
and HTTP add."""

from __future__ import annotations

import time

from . import metrics
from .harness import asgi_server, ratio_line

GUESTS = 10_000
REPEAT = 5


def run() -> list[str]:
    import requests
    from django.contrib.auth import get_user_model

    from access.models import ApiToken
    from access.services import create_token
    from cluster.resources import cluster_resources

    user, _ = get_user_model().objects.get_or_create(username="bench-api", defaults={"is_superuser": True})
    ApiToken.objects.filter(user=user).delete()
    token, secret = create_token(user, "bench", privsep=False)
    metrics._seed(GUESTS)
    try:
        service = float("inf")
        for _ in range(REPEAT):
            start = time.perf_counter()
            built = cluster_resources(user, pools=True)
            service = min(service, time.perf_counter() - start)
        with asgi_server() as server, requests.Session() as session:
            session.headers["Authorization"] = f"PVEAPIToken={token.full_id}={secret}"
            url = f"{server}/api2/json/cluster/resources"
            answered = session.get(url, timeout=120).json()  # warm: the session, the user, the token
            guests = [r for r in answered["data"] if r["type"] in ("qemu", "lxc")]
            assert len(guests) >= GUESTS, (len(guests), answered.get("message"))
            api = float("inf")
            for _ in range(REPEAT):
                start = time.perf_counter()
                response = session.get(url, timeout=120)
                response.raise_for_status()
                api = min(api, time.perf_counter() - start)
    finally:
        metrics._clean()
        ApiToken.objects.filter(user=user).delete()
    return [
        f"GET /api2/json/cluster/resources at {GUESTS} guests ({len(built)} resources), best of {REPEAT}",
        ratio_line("the service alone (cluster_resources)", service, service),
        ratio_line("through the API (token, view, JSON, HTTP)", api, service),
    ]
