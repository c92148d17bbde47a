"""factory_boy factories shared by the whole suite."""

import factory
from django.conf import settings
from django.contrib.auth import get_user_model

from access.choices import BUILTIN_ROLES
from access.models import AclEntry, ApiToken, Pool, Role, builtin_role
from guests.choices import GuestKind, GuestState
from guests.models import Guest
from nodes.models import Node

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


class NodeFactory(factory.django.DjangoModelFactory):
    """A node on this machine's real engines; its worker is the test worker (PANEL_NODE_NAME)."""

    class Meta:
        model = Node
        django_get_or_create = ("name",)

    name = settings.PANEL_NODE_NAME
    address = "127.0.0.1"
    libvirt_uri = settings.PANEL_LIBVIRT_URI
    docker_url = settings.PANEL_DOCKER_URL
    accelerator = settings.PANEL_ACCELERATOR
    storage_dir = settings.PANEL_STORAGE_DIR
    template_dir = settings.PANEL_TEMPLATE_DIR
    vm_bridge = settings.PANEL_VM_BRIDGE


class GuestFactory(factory.django.DjangoModelFactory):
    """A row only: for pages and checks that never reach an engine."""

    class Meta:
        model = Guest

    vmid = factory.Sequence(lambda n: 9000 + n)
    kind = GuestKind.CT
    node = factory.SubFactory(NodeFactory)
    name = factory.Sequence(lambda n: f"row-guest-{n}")
    backend_id = factory.Sequence(lambda n: f"fake-backend-{n}")
    state = GuestState.STOPPED
    vcpus = 1
    memory_mib = 64


class PoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pool
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"pool{n}")


def grant(subject: object, role: str, path: str, propagate: bool = True) -> AclEntry:
    """An ACL entry giving the built-in (or existing) ``role`` on ``path`` to a user, group or token."""
    from django.contrib.auth.models import Group

    role_row = builtin_role(role) if role in BUILTIN_ROLES else Role.objects.get(name=role)
    kind = "group" if isinstance(subject, Group) else "token" if isinstance(subject, ApiToken) else "user"
    return AclEntry.objects.create(path=path, role=role_row, propagate=propagate, **{kind: subject})
