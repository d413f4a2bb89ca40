from django.apps import AppConfig


class AllocationsConfig(AppConfig):
    name = "allocations"
