"""/pools: Proxmox's resource pools, their members and comment. Both of Proxmox's forms are served: the older
/pools/{poolid} and, since Proxmox VE 8.1, /pools with a ``poolid`` parameter."""

from __future__ import annotations

from django.http import Http404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import Pool, validate_pool_name
from access.services import delete_pool, save_pool
from cluster.resources import cluster_resources
from guests.pools import change_members, member_vmids, pool_visible_to, pools_visible_to
from panel.errors import InvalidRequest

from ..params import choice, flag, params_of, text, vmid_list
from ..responses import data
from ..schema import BOOLEAN, RESOURCE, STRING, arr, doc, obj, param

POOL = obj(("poolid",), poolid=STRING, comment=STRING, members=arr(RESOURCE))
POOL_CHANGE = obj(comment=STRING, vms=STRING, delete=BOOLEAN, allow__move=BOOLEAN, storage=STRING)

MEMBER_TYPES = ("qemu", "lxc", "storage")


def _poolid(request: Request, poolid: str | None) -> str:
    name = poolid if poolid is not None else text(request, "poolid", 63, required=True)
    try:
        validate_pool_name(name)
    except Exception:  # Django's ValidationError: Proxmox's parameter error
        from rest_framework.exceptions import ValidationError

        raise ValidationError({"poolid": "a pool id: letters, digits, '.', '_' and '-', starting with a letter"}
                              ) from None
    return name


def _pool(request: Request, name: str) -> Pool:
    pool = pool_visible_to(request.user, name)
    if pool is None:
        raise Http404(f"pool '{name}' does not exist")
    return pool


def _members(request: Request, pool: Pool) -> list[dict]:
    kind = choice(request, "type", MEMBER_TYPES)
    members = cluster_resources(request.user, "vm", vmids=member_vmids(request.user, pool)) if kind != "storage" \
        else []
    return [m for m in members if kind is None or m["type"] == kind]


def _detail(request: Request, pool: Pool) -> dict:
    return {"poolid": pool.name, "comment": pool.comment, "members": _members(request, pool)}


class PoolsView(APIView):
    @doc(
        "The pools the user may audit; with poolid, that one with its members",
        arr(POOL),
        query=(param("poolid", STRING), param("type", {"type": "string", "enum": ["qemu", "lxc", "storage"]})),
    )
    def get(self, request: Request) -> Response:
        """Every pool the user may audit; with ``poolid``, that one with its members."""
        if "poolid" in request.query_params:
            return data([_detail(request, _pool(request, _poolid(request, None)))])
        return data([{"poolid": p.name, "comment": p.comment} for p in pools_visible_to(request.user)])

    @doc("Create a pool", None, body=obj(("poolid",), poolid=STRING, comment=STRING))
    def post(self, request: Request) -> Response:
        save_pool(request.user, None, name=_poolid(request, None), comment=text(request, "comment", 255))
        return data(None)

    @doc("Change a pool: comment, vms added (or taken out with delete=1)", None, body=POOL_CHANGE)
    def put(self, request: Request) -> Response:
        return _update(request, _poolid(request, None))

    @doc("Delete an empty pool", None, query=(param("poolid", STRING, required=True),))
    def delete(self, request: Request) -> Response:
        return _delete(request, _poolid(request, None))


class PoolView(APIView):
    @doc(
        "A pool's comment and members",
        obj(("members",), comment=STRING, members=arr(RESOURCE)),
        query=(param("type", {"type": "string", "enum": ["qemu", "lxc", "storage"]}),),
    )
    def get(self, request: Request, poolid: str) -> Response:
        detail = _detail(request, _pool(request, _poolid(request, poolid)))
        return data({"comment": detail["comment"], "members": detail["members"]})

    @doc("Change a pool: comment, vms added (or taken out with delete=1)", None, body=POOL_CHANGE)
    def put(self, request: Request, poolid: str) -> Response:
        return _update(request, _poolid(request, poolid))

    @doc("Delete an empty pool")
    def delete(self, request: Request, poolid: str) -> Response:
        return _delete(request, _poolid(request, poolid))


def _update(request: Request, name: str) -> Response:
    """``comment``; ``vms`` added, or taken out with ``delete=1``; ``allow-move`` from another pool."""
    pool = _pool(request, name)
    if "comment" in params_of(request):
        save_pool(request.user, pool, comment=text(request, "comment", 255))
    vms = vmid_list(request)
    if vms:
        change_members(request.user, pool, vms, remove=flag(request, "delete"),
                       allow_move=flag(request, "allow-move"))
    if params_of(request).get("storage"):
        raise InvalidRequest("storage is not a pool member here: each node has its one storage 'local'")
    return data(None)


def _delete(request: Request, name: str) -> Response:
    delete_pool(request.user, _pool(request, name))
    return data(None)
