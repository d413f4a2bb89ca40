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
