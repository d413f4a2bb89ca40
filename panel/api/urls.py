from django.urls import include, re_path

from panel.api.views import api_not_found

urlpatterns = [
    re_path(r"^client/", include("allocations.api.urls")),
    # Any other path under /api/ answers the 404 envelope (and never redirects).
    re_path(r"^.*$", api_not_found),
]
