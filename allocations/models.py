from django.db import models
from django.db.models import Q

from allocations.addresses import canonical_ip, format_ip_port, ip_sort_key, parse_ip
from servers.models import Node, Server


class Allocation(models.Model):
    """One ip:port of a node's pool, free (no server) or held by one server of that node."""

    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="allocations")
    ip = models.GenericIPAddressField("IP address")
    # Derived from `ip` on save; orders addresses numerically on any database.
    ip_key = models.CharField(max_length=33, editable=False)
    ip_alias = models.CharField("IP alias", max_length=255, blank=True, null=True)
    port = models.PositiveIntegerField()
    notes = models.CharField(max_length=255, blank=True, null=True)
    # SET_NULL: deleting a server returns its allocations to the pool.
    server = models.ForeignKey(
        Server, on_delete=models.SET_NULL, null=True, blank=True, related_name="allocations"
    )
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["node", "ip_key", "port"], name="allocation_unique_node_ip_port"
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1) & Q(port__lte=65535), name="allocation_port_range"
            ),
            models.CheckConstraint(
                condition=Q(is_primary=False) | Q(server__isnull=False),
                name="allocation_primary_needs_server",
            ),
            # The database itself guarantees at most one primary per server.
            models.UniqueConstraint(
                fields=["server"], condition=Q(is_primary=True), name="allocation_one_primary"
            ),
        ]
        indexes = [
            # The free-pool picks: by address then port, and by port then address.
            models.Index(
                fields=["node", "ip_key", "port"],
                condition=Q(server__isnull=True),
                name="allocation_free_by_ip",
            ),
            models.Index(
                fields=["node", "port", "ip_key"],
                condition=Q(server__isnull=True),
                name="allocation_free_by_port",
            ),
        ]

    def __str__(self) -> str:
        return self.address

    def save(self, *args, **kwargs):
        parsed = parse_ip(str(self.ip))
        if parsed is not None:
            self.ip = canonical_ip(parsed)
            self.ip_key = ip_sort_key(parsed)
        if not self.server_id:
            self.is_primary = False
            self.notes = None
        super().save(*args, **kwargs)

    @property
    def address(self) -> str:
        return format_ip_port(self.ip, self.port)
