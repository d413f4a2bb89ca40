from django.urls import re_path

from allocations.api import views

# An optional trailing slash on every path: the same answer, never a redirect.
_BASE = r"^servers/(?P<server>[^/]+)/network/allocations"

urlpatterns = [
    re_path(_BASE + r"/?$", views.AllocationListView.as_view()),
    re_path(_BASE + r"/(?P<allocation>[^/]+)/?$", views.AllocationDetailView.as_view()),
    re_path(_BASE + r"/(?P<allocation>[^/]+)/primary/?$", views.AllocationPrimaryView.as_view()),
]
