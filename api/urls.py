from django.urls import path

from .views import cluster, guest_config, guest_list, guests, metrics, nodes, tasks
from .waiting import waits_for_task

# A guest's endpoints: /nodes/{node}/qemu/{vmid}/... for VMs, /nodes/{node}/lxc/{vmid}/... for containers.
GUEST = "nodes/<str:node>/<str:kind>/<vmid:vmid>"

urlpatterns = [
    path("cluster/resources", cluster.ClusterResourcesView.as_view()),
    path("nodes", nodes.NodeListView.as_view()),
    path("nodes/<str:node>/status", nodes.NodeStatusView.as_view(), name="api-node-status"),
    path("nodes/<str:node>/rrddata", metrics.NodeRrdDataView.as_view(), name="api-node-rrddata"),
    path("nodes/<str:node>/tasks", tasks.NodeTaskListView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>", tasks.TaskView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/status", tasks.TaskStatusView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/log", tasks.TaskLogView.as_view()),
    path("nodes/<str:node>/<guestkind:kind>", guest_list.GuestListView.as_view()),
    path("nodes/<str:node>/<str:action>", nodes.NodeBulkView.as_view()),
    path(GUEST, guest_list.GuestView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/rrddata", metrics.GuestRrdDataView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/status/<str:action>", guests.GuestStatusView.as_view()),
    path(GUEST + "/config", waits_for_task(guest_config.GuestConfigView.as_view())),
    path(GUEST + "/pending", guest_config.GuestPendingView.as_view()),
    path(GUEST + "/resize", guest_config.GuestResizeView.as_view()),
    path(GUEST + "/migrate", guests.GuestMigrateView.as_view()),
]
