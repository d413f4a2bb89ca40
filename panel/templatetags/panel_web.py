"""Small display helpers for the browser pages."""

from django import template

from allocations.addresses import format_ip_port

register = template.Library()


@register.filter
def host(allocation) -> str:
    """What players type: the alias when there is one, else the address."""
    return allocation.ip_alias or allocation.ip


@register.filter
def shown_address(allocation) -> str:
    """`host:port` as players would type it (IPv6 in brackets)."""
    return format_ip_port(host(allocation), allocation.port)


@register.filter
def ip_port(allocation) -> str:
    """The real `ip:port`, as the activity log names it."""
    return format_ip_port(allocation.ip, allocation.port)
