import pytest
from django.test import Client

from tests import factories


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Pages link their CSS and scripts through {% static %}; the production storage needs
    a collectstatic manifest that a test run does not build."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def browser(owner):
    """The owner, signed in with a session, as a browser is."""
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def htmx(owner):
    """The owner's browser, sending what htmx sends."""
    client = Client(headers={"HX-Request": "true"})
    client.force_login(owner)
    return client


def signed_in(user, *, hx: bool = False, enforce_csrf: bool = False) -> Client:
    headers = {"HX-Request": "true"} if hx else {}
    client = Client(enforce_csrf_checks=enforce_csrf, headers=headers)
    client.force_login(user)
    return client


@pytest.fixture
def stranger(db):
    return factories.make_user("stranger")
