"""/storage and a node's storage: configuration, status and content of each node's ``local``
(cluster/storage.py)."""

from __future__ import annotations

from django.http import Http404
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cluster import storage as local
from guests.choices import VMID_MAX, VMID_MIN
from guests.uploads import CONTENTS, request_upload

from ..params import choice, node_named, optional_number, text
from ..responses import data
from ..schema import BOOLEAN, INTEGER, NUMBER, STRING, arr, doc, obj, param

STORAGE = obj(
    ("storage", "type", "content"),
    storage=STRING,
    type=STRING,
    content=STRING,
    shared=BOOLEAN,
    path=STRING,
    digest=STRING,
)
STORAGE_STATUS = obj(
    ("storage", "type", "content", "total", "used", "avail", "active", "enabled", "shared"),
    storage=STRING,
    type=STRING,
    content=STRING,
    total=INTEGER,
    used=INTEGER,
    avail=INTEGER,
    active=BOOLEAN,
    enabled=BOOLEAN,
    shared=BOOLEAN,
    used_fraction=NUMBER,
)


class StorageListView(APIView):
    @doc("The storages", arr(STORAGE), query=(param("type", STRING),))
    def get(self, request: Request) -> Response:
        kind = choice(request, "type", ("dir",))
        return data([local.config()] if local.may_see(request.user) and kind in (None, "dir") else [])


class StorageConfigView(APIView):
    @doc("A storage's configuration", STORAGE)
    def get(self, request: Request, storage: str) -> Response:
        local.check_storage(request.user, storage)
        return data(local.config())


class NodeStorageListView(APIView):
    @doc(
        "A node's storages with their figures",
        arr(STORAGE_STATUS),
        query=(param("content", STRING), param("storage", STRING), param("enabled", BOOLEAN)),
    )
    def get(self, request: Request, node: str) -> Response:
        """The node's storages (its ``local``) with their figures; ``content`` and ``storage`` filter."""
        found = node_named(request, node)
        choice(request, "content", local.CONTENT_TYPES)  # local holds every content type
        named = text(request, "storage", 100, default="local")
        if not local.may_see(request.user) or named != "local":
            return data([])
        return data([local.status(found)])


class NodeStorageView(APIView):
    @doc("A storage's endpoints", arr(obj(subdir=STRING)))
    def get(self, request: Request, node: str, storage: str) -> Response:
        node_named(request, node)
        local.check_storage(request.user, storage)
        return data([{"subdir": name} for name in ("content", "status", "upload")])


class NodeStorageStatusView(APIView):
    @doc("A storage's figures", STORAGE_STATUS)
    def get(self, request: Request, node: str, storage: str) -> Response:
        found = node_named(request, node)
        local.check_storage(request.user, storage)
        return data(local.status(found))


class NodeStorageContentView(APIView):
    @doc(
        "A storage's volumes",
        arr(
            obj(
                ("volid", "format", "size"),
                volid=STRING,
                content=STRING,
                format=STRING,
                size=INTEGER,
                used=INTEGER,
                vmid=INTEGER,
                ctime=INTEGER,
            )
        ),
        query=(
            param("content", {"type": "string", "enum": ["images", "rootdir", "vztmpl", "iso"]}),
            param("vmid", {"type": "integer", "minimum": 100, "maximum": 999999999}),
        ),
    )
    def get(self, request: Request, node: str, storage: str) -> Response:
        """content=images|rootdir|vztmpl|iso, vmid."""
        found = node_named(request, node)
        local.check_storage(request.user, storage)
        kind = choice(request, "content", local.CONTENT_TYPES)
        vmid = optional_number(request, "vmid", VMID_MAX, VMID_MIN)
        return data(local.content(request.user, found, kind, vmid))


class NodeStorageUploadView(APIView):
    @doc(
        "Upload an ISO image or a container template (multipart: content, and the file as filename): the UPID",
        STRING,
        body=obj(("content", "filename"), content={"type": "string", "enum": list(CONTENTS)},
                 filename={"type": "string", "format": "binary"}),
        multipart=True,
    )
    def post(self, request: Request, node: str, storage: str) -> Response:
        found = node_named(request, node)
        if storage != "local":
            raise Http404(f"storage '{storage}' does not exist")
        content = choice(request, "content", CONTENTS)
        if content is None:
            raise ValidationError({"content": "property is missing and it is not optional"})
        upload = request.FILES.get("filename")
        if upload is None:
            raise ValidationError({"filename": "the file, sent as the multipart field 'filename'"})
        return data(request_upload(request.user, found, content, upload).upid)
