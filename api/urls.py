from django.urls import path

from .views import access, cluster, guests, metrics, nodes, tasks, version

urlpatterns = [
    path("version", version.VersionView.as_view()),
    path("access/ticket", access.TicketView.as_view()),
    path("access/domains", access.DomainsView.as_view()),
    path("cluster/status", cluster.ClusterStatusView.as_view()),
    path("cluster/resources", cluster.ClusterResourcesView.as_view()),
    path("cluster/nextid", cluster.NextIdView.as_view()),
    path("cluster/tasks", cluster.ClusterTasksView.as_view()),
    path("nodes", nodes.NodeListView.as_view()),
    path("nodes/<str:node>", nodes.NodeView.as_view()),
    path("nodes/<str:node>/status", nodes.NodeStatusView.as_view(), name="api-node-status"),
    path("nodes/<str:node>/rrddata", metrics.NodeRrdDataView.as_view(), name="api-node-rrddata"),
    path("nodes/<str:node>/tasks", tasks.NodeTaskListView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>", tasks.TaskView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/status", tasks.TaskStatusView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/log", tasks.TaskLogView.as_view()),
    path("nodes/<str:node>/<str:action>", nodes.NodeBulkView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/rrddata", metrics.GuestRrdDataView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/status/<str:action>", guests.GuestStatusView.as_view()),
]
