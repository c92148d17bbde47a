"""/version: which Proxmox VE the API answers as (api/version.py)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..responses import data
from ..schema import STRING, doc, obj
from ..version import version


class VersionView(APIView):
    @doc(
        "Proxmox VE version of the API",
        obj(("version", "release", "repoid"), version=STRING, release=STRING, repoid=STRING, console=STRING),
    )
    def get(self, request: Request) -> Response:
        return data(version())
