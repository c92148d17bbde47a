from django.urls import path

from .views import access, cluster, guest_config, guests, metrics, nodes, pools, snapshots, storage, tasks, version
from .waiting import waits_for_task

# A guest's endpoints: /nodes/{node}/qemu/{vmid}/... for VMs, /nodes/{node}/lxc/{vmid}/... for containers.
GUEST = "nodes/<str:node>/<str:kind>/<vmid:vmid>"

urlpatterns = [
    path("version", version.VersionView.as_view()),
    path("access/ticket", access.TicketView.as_view()),
    path("access/domains", access.DomainsView.as_view()),
    path("access/users", access.UsersView.as_view()),
    path("access/users/<str:userid_>", access.UserView.as_view()),
    path("access/users/<str:userid_>/token", access.TokensView.as_view()),
    path("access/users/<str:userid_>/token/<str:tokenid>", access.TokenView.as_view()),
    path("access/groups", access.GroupsView.as_view()),
    path("access/groups/<str:groupid>", access.GroupView.as_view()),
    path("access/roles", access.RolesView.as_view()),
    path("access/roles/<str:roleid>", access.RoleView.as_view()),
    path("access/acl", access.AclView.as_view()),
    path("access/permissions", access.PermissionsView.as_view()),
    path("pools", pools.PoolsView.as_view()),
    path("pools/<str:poolid>", pools.PoolView.as_view()),
    path("cluster/status", cluster.ClusterStatusView.as_view()),
    path("cluster/resources", cluster.ClusterResourcesView.as_view()),
    path("cluster/nextid", cluster.NextIdView.as_view()),
    path("cluster/tasks", cluster.ClusterTasksView.as_view()),
    path("storage", storage.StorageListView.as_view()),
    path("storage/<str:storage_id>", storage.StorageConfigView.as_view()),
    path("nodes", nodes.NodeListView.as_view()),
    path("nodes/<str:node>", nodes.NodeView.as_view()),
    path("nodes/<str:node>/status", nodes.NodeStatusView.as_view(), name="api-node-status"),
    path("nodes/<str:node>/rrddata", metrics.NodeRrdDataView.as_view(), name="api-node-rrddata"),
    path("nodes/<str:node>/tasks", tasks.NodeTaskListView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>", tasks.TaskView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/status", tasks.TaskStatusView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/log", tasks.TaskLogView.as_view()),
    path("nodes/<str:node>/storage", storage.NodeStorageListView.as_view()),
    path("nodes/<str:node>/storage/<str:storage_id>", storage.NodeStorageView.as_view()),
    path("nodes/<str:node>/storage/<str:storage_id>/status", storage.NodeStorageStatusView.as_view()),
    path("nodes/<str:node>/storage/<str:storage_id>/content", storage.NodeStorageContentView.as_view()),
    path("nodes/<str:node>/<str:action>", nodes.NodeBulkView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/rrddata", metrics.GuestRrdDataView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/status/<str:action>", guests.GuestStatusView.as_view()),
    path(GUEST + "/config", waits_for_task(guest_config.GuestConfigView.as_view())),
    path(GUEST + "/pending", guest_config.GuestPendingView.as_view()),
    # snapshots, clone, template (api/views/snapshots.py)
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/snapshot", snapshots.SnapshotListView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/snapshot/<str:snapname>", snapshots.SnapshotView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/snapshot/<str:snapname>/config",
         snapshots.SnapshotConfigView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/snapshot/<str:snapname>/rollback",
         snapshots.SnapshotRollbackView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/clone", snapshots.CloneView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/template", snapshots.TemplateView.as_view()),
]
