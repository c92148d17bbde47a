"""Live figures: a node's poll is pushed on ws/cluster/resources/, filtered for each viewer."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async as sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from cluster.events import publish_guest_changed, publish_node_changed
from guests.models import Guest
from nodes.poll import collect
from panel.routing import websocket_urlpatterns
from tests.factories import AdminFactory, GuestFactory, NodeFactory, PoolFactory, UserFactory, grant
from tests.support import CT_TEMPLATE, PREFIX, RUN, act, create, run_scenario

pytestmark = pytest.mark.django_db(transaction=True)

router = URLRouter(websocket_urlpatterns)


async def connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(router, "/ws/cluster/resources/")
    communicator.scope["user"] = user
    return communicator


def test_node_changes_are_pushed_to_who_may_see_them() -> None:
    node = NodeFactory(name="lv-node", last_seen=timezone.now())
    pool = PoolFactory(name="lv-pool")
    inside = GuestFactory(node=node, pool=pool, state="running")
    GuestFactory(node=node, state="running")
    admin, user = AdminFactory(), UserFactory(username="lv-user")
    grant(user, "PVEVMUser", "/pool/lv-pool")

    async def scenario() -> None:
        admin_socket, user_socket = await connect(admin), await connect(user)
        assert (await admin_socket.connect())[0] and (await user_socket.connect())[0]
        first = await admin_socket.receive_json_from(timeout=10)
        assert {"node/lv-node", f"lxc/{inside.vmid}"} <= {r["id"] for r in first["data"]}
        mine = await user_socket.receive_json_from(timeout=10)
        assert [r["id"] for r in mine["data"]] == [f"lxc/{inside.vmid}"]
        await sync_to_async(Guest.objects.filter(pk=inside.pk).update)(cpu_usage=0.42)
        await sync_to_async(publish_node_changed)("lv-node")
        pushed = await user_socket.receive_json_from(timeout=10)
        assert pushed["node"] == "lv-node" and [r["cpu"] for r in pushed["data"]] == [0.42]
        pushed = await admin_socket.receive_json_from(timeout=10)
        assert len(pushed["data"]) == 4  # the node, its storage and both guests
        await admin_socket.disconnect()
        await user_socket.disconnect()
        anonymous = await connect(AnonymousUser())
        assert not (await anonymous.connect())[0]

    run_scenario(scenario())


def test_a_poll_publishes_its_node(node) -> None:
    async def scenario() -> None:
        socket = await connect(await sync_to_async(AdminFactory)())
        assert (await socket.connect())[0]
        await socket.receive_json_from(timeout=10)
        await sync_to_async(collect)(node)
        while True:
            message = await socket.receive_json_from(timeout=30)
            if message["node"] == node.name:
                break
        assert any(r["id"] == f"node/{node.name}" and r["status"] == "online" for r in message["data"])
        await socket.disconnect()

    run_scenario(scenario())


def test_a_quiet_socket_outlives_the_channel_layers_wait(node) -> None:
    """channels-redis waits 5 s per read of the channel layer: a socket with nothing to say for longer
    (a node polled every 10 s) must stay up and get the next push."""

    async def scenario() -> None:
        socket = await connect(await sync_to_async(AdminFactory)())
        assert (await socket.connect())[0]
        await socket.receive_json_from(timeout=10)
        await asyncio.sleep(7)
        await sync_to_async(publish_node_changed)(node.name)
        pushed = await socket.receive_json_from(timeout=10)
        assert pushed["node"] == node.name
        await socket.disconnect()

    run_scenario(scenario())


@pytest.mark.engines
def test_a_task_pushes_the_guest_it_changed_without_waiting_for_a_poll(admin_client, admin_user, live_node) -> None:
    """The worker polls once an hour here: what a viewer sees of a created, started and destroyed guest comes
    from the tasks that did it; a viewer who may not see the guest hears nothing of it, not even its VMID."""
    vmid = 8000 + int(RUN, 16) % 1000
    PoolFactory(name="lv-mine")
    theirs = GuestFactory(node=live_node, pool=PoolFactory(name="lv-theirs"), state="stopped")
    outsider = UserFactory(username="lv-outsider")
    grant(outsider, "PVEVMUser", "/pool/lv-theirs")

    async def scenario() -> None:
        socket, other = await connect(admin_user), await connect(outsider)
        assert (await socket.connect())[0] and (await other.connect())[0]
        await socket.receive_json_from(timeout=10)
        await other.receive_json_from(timeout=10)

        async def pushed(status: str | None) -> None:
            """The next push of ``vmid`` with that status (None: gone)."""
            while True:
                message = await socket.receive_json_from(timeout=60)
                if message["type"] != "guests":
                    continue
                found = [r["status"] for r in message["data"] if r["vmid"] == vmid]
                if (status is None and vmid in message["gone"]) or (status and found == [status]):
                    return

        await sync_to_async(create)(admin_client, "ct", {"node": live_node.name, "template": CT_TEMPLATE,
                                                         "vmid": vmid, "name": f"{PREFIX}pushed", "vcpus": 1,
                                                         "memory_mib": 64, "start": "on"})
        await pushed("running")
        guest = await sync_to_async(Guest.objects.get)(vmid=vmid)
        await sync_to_async(act)(admin_client, guest, "stop")
        await pushed("stopped")
        await sync_to_async(act)(admin_client, guest, "delete")
        await pushed(None)

        # The outsider's barrier: a change of a guest they may see, published after all of the above.
        await sync_to_async(publish_guest_changed)(live_node.name, theirs.vmid)
        heard = []
        while True:
            message = await other.receive_json_from(timeout=30)
            heard.append(message)
            if message["type"] == "guests" and [r["vmid"] for r in message["data"]] == [theirs.vmid]:
                break
        assert [m for m in heard if m["type"] == "guests"] == [heard[-1]], heard  # nothing of the other guest
        await socket.disconnect()
        await other.disconnect()

    run_scenario(scenario())


def test_a_first_visible_socket_sends_folded_nodes_guests_when_asked() -> None:
    from cluster.consumers import FOLD_AT

    small = NodeFactory(name="fv-small", last_seen=timezone.now())
    big = NodeFactory(name="fv-big", last_seen=timezone.now())
    few = [GuestFactory(node=small, state="running") for _ in range(2)]
    many = [GuestFactory(node=big, state="stopped") for _ in range(FOLD_AT + 1)]
    admin = AdminFactory()

    async def scenario() -> None:
        socket = WebsocketCommunicator(router, "/ws/cluster/resources/?first=visible")
        socket.scope["user"] = admin
        assert (await socket.connect())[0]
        first = await socket.receive_json_from(timeout=10)
        ids = {r["id"] for r in first["data"]}
        assert {"node/fv-small", "node/fv-big", *(f"lxc/{g.vmid}" for g in few)} <= ids
        assert not ids & {f"lxc/{g.vmid}" for g in many}  # folded: not sent
        assert first["folded"] == {"fv-big": FOLD_AT + 1}
        await socket.send_json_to({"type": "node", "node": "fv-big"})
        opened = await socket.receive_json_from(timeout=10)
        while opened["node"] != "fv-big":  # a push of another change first (an access change of the factories'):
            assert not {r["id"] for r in opened["data"]} & {f"lxc/{g.vmid}" for g in many}  # still folded
            opened = await socket.receive_json_from(timeout=10)
        assert {r["id"] for r in opened["data"]} >= {f"lxc/{g.vmid}" for g in many}
        await socket.disconnect()

    run_scenario(scenario())
