from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A client API key. Only the identifier and a hash of the whole key are kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    # `ptlc_` + 11 characters: the public half, shown in lists and activity entries.
    identifier = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    description = models.CharField(max_length=500, blank=True, default="")
    allowed_ips = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return self.identifier


class ActivityEntry(models.Model):
    """One successful change, written in the same transaction as the change."""

    event = models.CharField(max_length=64, db_index=True)
    server = models.ForeignKey(
        "servers.Server",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="activity",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    api_key_identifier = models.CharField(max_length=16, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    properties = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "activity entries"
        indexes = [models.Index(fields=["server", "-created_at"], name="activity_server_time")]

    def __str__(self) -> str:
        return f"{self.event} {self.properties}"
