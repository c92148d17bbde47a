from django.urls import path

from . import views

urlpatterns = [path("", views.AccessIndexView.as_view(), name="access_index")]
for prefix, listing, create, update, delete in [
    ("user", views.UserList, views.UserCreate, views.UserUpdate, views.UserDelete),
    ("group", views.GroupList, views.GroupCreate, views.GroupUpdate, views.GroupDelete),
    ("role", views.RoleList, views.RoleCreate, views.RoleUpdate, views.RoleDelete),
    ("acl", views.AclList, views.AclCreate, views.AclUpdate, views.AclDelete),
    ("pool", views.PoolList, views.PoolCreate, views.PoolUpdate, views.PoolDelete),
]:
    urlpatterns += [
        path(f"{prefix}s/", listing.as_view(), name=f"{prefix}_list"),
        path(f"{prefix}s/add/", create.as_view(), name=f"{prefix}_create"),
        path(f"{prefix}s/<id:pk>/", update.as_view(), name=f"{prefix}_update"),
        path(f"{prefix}s/<id:pk>/delete/", delete.as_view(), name=f"{prefix}_delete"),
    ]
urlpatterns += [
    path("audit/", views.AuditLogView.as_view(), name="audit_list"),
    path("tokens/", views.TokenListView.as_view(), name="token_list"),
    path("tokens/add/", views.TokenCreateView.as_view(), name="token_create"),
    path("tokens/<id:pk>/delete/", views.TokenDeleteView.as_view(), name="token_delete"),
]
