from django.urls import path

from . import views

urlpatterns = [
    path("cluster/resources", views.ClusterResourcesView.as_view()),
    path("nodes", views.NodeListView.as_view()),
    path("nodes/<str:node>/status", views.NodeStatusView.as_view(), name="api-node-status"),
    path("nodes/<str:node>/rrddata", views.NodeRrdDataView.as_view(), name="api-node-rrddata"),
    path("nodes/<str:node>/tasks", views.NodeTaskListView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>", views.TaskView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/status", views.TaskStatusView.as_view()),
    path("nodes/<str:node>/tasks/<str:upid>/log", views.TaskLogView.as_view()),
    path("nodes/<str:node>/<str:action>", views.NodeBulkView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/rrddata", views.GuestRrdDataView.as_view()),
    path("nodes/<str:node>/<str:kind>/<vmid:vmid>/status/<str:action>", views.GuestStatusView.as_view()),
]
