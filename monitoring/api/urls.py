from django.urls import re_path

from monitoring.api import views

# Beside the network endpoints of `allocations.api.urls`, same optional trailing slash.
_ALLOCATION = r"^servers/(?P<server>[^/]+)/network/allocations/(?P<allocation>[^/]+)"

urlpatterns = [
    re_path(_ALLOCATION + r"/test/?$", views.AllocationTestView.as_view()),
    re_path(_ALLOCATION + r"/health/?$", views.AllocationHealthView.as_view()),
]
