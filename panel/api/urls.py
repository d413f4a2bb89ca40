from django.urls import include, re_path

from panel.api import account
from panel.api.schema import DocsView, SchemaView
from panel.api.views import api_not_found
from servers.api.views import ServerListView

urlpatterns = [
    re_path(r"^client/?$", ServerListView.as_view()),
    re_path(r"^client/account/api-keys/?$", account.ApiKeyListView.as_view()),
    re_path(
        r"^client/account/api-keys/(?P<identifier>[^/]+)/?$", account.ApiKeyDetailView.as_view()
    ),
    re_path(r"^client/", include("allocations.api.urls")),
    re_path(r"^client/", include("monitoring.api.urls")),
    re_path(r"^client/", include("servers.api.urls")),
    re_path(r"^schema/?$", SchemaView.as_view(), name="api-schema"),
    re_path(r"^docs/?$", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    # Any other path under /api/ answers the 404 envelope (and never redirects).
    re_path(r"^.*$", api_not_found),
]
