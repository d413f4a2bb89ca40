import os

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/", include("panel.api.urls")),
    path("admin/", admin.site.urls),
    # The browser panel (HTML, session and CSRF): account pages, servers, network tab.
    path("", include("panel.web_urls")),
    path("", include("servers.urls")),
    path("", include("allocations.urls")),
]

if os.environ.get("PANEL_BENCH") == "1":
    # The benchmark's reference view (bench/views.py), served only while bench/run.py runs
    # the app with PANEL_BENCH=1. Ahead of `api/`, whose last pattern answers every path.
    from bench.urls import urlpatterns as _bench_urlpatterns

    urlpatterns = _bench_urlpatterns + urlpatterns
