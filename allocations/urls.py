"""The network tab (HTMX). The JSON endpoints live in allocations/api/urls.py."""

from django.urls import path

from allocations import views

app_name = "allocations"

_ROW = "server/<str:identifier>/network/allocations/<int:allocation>"

urlpatterns = [
    path("server/<str:identifier>/network/", views.network_tab, name="network"),
    path("server/<str:identifier>/network/health/", views.network_health, name="health"),
    path("server/<str:identifier>/network/allocations/", views.allocation_add, name="add"),
    path(f"{_ROW}/notes/", views.allocation_notes, name="notes"),
    path(f"{_ROW}/primary/", views.allocation_make_primary, name="primary"),
    path(f"{_ROW}/remove/", views.allocation_remove, name="remove"),
    path(f"{_ROW}/test/", views.allocation_test, name="test"),
]
