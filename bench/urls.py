"""Included by panel/urls.py only when PANEL_BENCH=1 (see bench/views.py)."""

from django.urls import path

from bench.views import BareAllocationListView

urlpatterns = [
    path("api/bench/bare-allocations", BareAllocationListView.as_view()),
]
