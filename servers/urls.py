from django.urls import path

from servers import views

app_name = "servers"

urlpatterns = [
    path("", views.server_list, name="list"),
    path("server/<str:identifier>/", views.server_detail, name="detail"),
    path("server/<str:identifier>/power/", views.server_power, name="power"),
]
