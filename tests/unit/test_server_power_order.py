"""servers.services.server_set_power checks the permission before the body, as the API does
(spec section 5): an invalid signal is forbidden to an actor who may send no signal at all."""

import pytest

from panel.activity import Actor
from panel.errors import InsufficientPermissions, ValidationFailed
from panel.models import ActivityEntry
from servers.services import server_set_power
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("signal", ["reboot", "", None, 7])
def test_an_invalid_signal_from_an_actor_with_no_control_permission_is_forbidden(server, signal):
    user = factories.make_user()
    factories.make_subuser(server, user, ["allocation.read", "activity.read"])

    with pytest.raises(InsufficientPermissions):
        server_set_power(server=server, actor=Actor(user=user), signal=signal)
    assert not ActivityEntry.objects.exists()


@pytest.mark.parametrize("held", ["control.start", "control.stop", "control.restart"])
def test_an_invalid_signal_from_an_actor_with_any_control_permission_is_a_validation_error(
    server, held
):
    user = factories.make_user()
    factories.make_subuser(server, user, [held])

    with pytest.raises(ValidationFailed) as caught:
        server_set_power(server=server, actor=Actor(user=user), signal="reboot")
    assert caught.value.errors[0].field == "signal"


def test_a_stranger_with_an_invalid_signal_is_forbidden_not_told_about_the_body(server):
    with pytest.raises(InsufficientPermissions):
        server_set_power(server=server, actor=Actor(user=factories.make_user()), signal="x")
