from django.urls import path

from .views import cluster, guests, metrics, nodes, snapshots, tasks

urlpatterns = [
    path("cluster/resources", cluster.ClusterResourcesView.as_view()),
    path("nodes", nodes.NodeListView.as_view()),
    path("nodes/<str:node>/status", nodes.NodeStatusView.as_view(), name="api-node-status"),
    path("nodes/<str:node>/rrddata", metrics.NodeRrdDataView.as_view(), name="api-node-rrddata"),
    path("nodes/<str:node>/tasks", tasks.NodeTaskListView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>", tasks.TaskView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/status", tasks.TaskStatusView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/log", tasks.TaskLogView.as_view()),
    path("nodes/<str:node>/<str:action>", nodes.NodeBulkView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/rrddata", metrics.GuestRrdDataView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/status/<str:action>", guests.GuestStatusView.as_view()),
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
