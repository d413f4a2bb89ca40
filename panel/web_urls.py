"""The browser's account pages: sign in and out, password, API keys."""

from django.contrib.auth import views as auth_views
from django.urls import path

from panel import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    # A POST only (Django 5): a link or an image cannot sign anyone out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "account/password/",
        auth_views.PasswordChangeView.as_view(extra_context={"nav": "account"}),
        name="password_change",
    ),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(extra_context={"nav": "account"}),
        name="password_change_done",
    ),
    path("account/api-keys/", views.api_keys, name="api_keys"),
    path("account/api-keys/<str:identifier>/delete/", views.api_key_remove, name="api_key_delete"),
]
