"""/storage and a node's storage: configuration, status and content of each node's ``local``
(cluster/storage.py)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster import storage
from guests.choices import VMID_MAX, VMID_MIN

from ..params import choice, node_named, optional_number, text
from ..responses import data


class StorageListView(APIView):
    def get(self, request: Request) -> Response:
        kind = choice(request, "type", ("dir",))
        return data([storage.config()] if storage.may_see(request.user) and kind in (None, "dir") else [])


class StorageConfigView(APIView):
    def get(self, request: Request, storage_id: str) -> Response:
        storage.check_storage(request.user, storage_id)
        return data(storage.config())


class NodeStorageListView(APIView):
    def get(self, request: Request, node: str) -> Response:
        """The node's storages (its ``local``) with their figures; ``content`` and ``storage`` filter."""
        found = node_named(request, node)
        choice(request, "content", storage.CONTENT_TYPES)  # local holds every content type
        named = text(request, "storage", 100, default="local")
        if not storage.may_see(request.user) or named != "local":
            return data([])
        return data([storage.status(found)])


class NodeStorageView(APIView):
    def get(self, request: Request, node: str, storage_id: str) -> Response:
        node_named(request, node)
        storage.check_storage(request.user, storage_id)
        return data([{"subdir": name} for name in ("content", "status", "upload")])


class NodeStorageStatusView(APIView):
    def get(self, request: Request, node: str, storage_id: str) -> Response:
        found = node_named(request, node)
        storage.check_storage(request.user, storage_id)
        return data(storage.status(found))


class NodeStorageContentView(APIView):
    def get(self, request: Request, node: str, storage_id: str) -> Response:
        """content=images|rootdir|vztmpl|iso, vmid."""
        found = node_named(request, node)
        storage.check_storage(request.user, storage_id)
        kind = choice(request, "content", storage.CONTENT_TYPES)
        vmid = optional_number(request, "vmid", VMID_MAX, VMID_MIN)
        return data(storage.content(request.user, found, kind, vmid))
