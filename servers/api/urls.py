from django.urls import re_path

from servers.api import views

urlpatterns = [
    re_path(r"^servers/(?P<server>[^/]+)/?$", views.ServerDetailView.as_view()),
    re_path(r"^servers/(?P<server>[^/]+)/resources/?$", views.ServerResourcesView.as_view()),
    re_path(r"^servers/(?P<server>[^/]+)/activity/?$", views.ServerActivityView.as_view()),
    re_path(r"^servers/(?P<server>[^/]+)/power/?$", views.ServerPowerView.as_view()),
    re_path(r"^permissions/?$", views.PermissionsView.as_view()),
]
