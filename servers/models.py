import uuid as uuid_lib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class Node(models.Model):
    """A machine that hosts game servers; it owns a pool of allocations."""

    # Never all digits (a node is named by id or name on the command line); `clean` checks.
    name = models.CharField(max_length=100, unique=True)
    fqdn = models.CharField("FQDN", max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.name and self.name.isdigit():
            raise ValidationError({"name": "A node name cannot be all digits."})


class PowerState(models.TextChoices):
    OFFLINE = "offline"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


class ServerStatus(models.TextChoices):
    ACTIVE = "active"
    INSTALLING = "installing"
    INSTALL_FAILED = "install_failed"
    SUSPENDED = "suspended"


class ServerQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ServerQuerySet":
        """The servers `user` may see: all for a superuser, else owned or subuser of."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(
            Q(owner=user) | Q(pk__in=Subuser.objects.filter(user=user).values("server_id"))
        )


class Server(models.Model):
    uuid = models.UUIDField(default=uuid_lib.uuid4, unique=True, editable=False)
    # The first 8 characters of the uuid; unique so it can name the server on its own.
    identifier = models.CharField(max_length=8, unique=True, editable=False)
    name = models.CharField(max_length=191)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="servers"
    )
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="servers")
    allocation_limit = models.PositiveIntegerField(
        default=0, help_text="The most allocations the server may hold, the primary included."
    )
    state = models.CharField(max_length=16, choices=PowerState, default=PowerState.OFFLINE)
    status = models.CharField(max_length=16, choices=ServerStatus, default=ServerStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ServerQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=PowerState.values), name="server_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ServerStatus.values), name="server_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.identifier})"

    def save(self, *args, **kwargs):
        if not self.identifier:
            self.identifier = str(self.uuid)[:8]
        super().save(*args, **kwargs)


class Subuser(models.Model):
    """A user given a set of permission strings on someone else's server."""

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="subusers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subuser_of"
    )
    permissions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["server", "user"], name="subuser_unique_server_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.server}"
