from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from panel.commands import PanelCommand


class Command(PanelCommand):
    help = "Create a user. Without --password the account has no usable password."

    def add_arguments(self, parser):
        parser.add_argument("username", metavar="USER")
        parser.add_argument("--email", default="")
        parser.add_argument("--password")
        parser.add_argument(
            "--superuser", action="store_true", help="Staff and superuser: every server."
        )
        parser.add_argument("--inactive", action="store_true", help="Cannot log in or use keys.")

    def run(self, *, username, email, password, superuser, inactive, **options):
        User = get_user_model()
        user = User(
            **{User.USERNAME_FIELD: username},
            email=User.objects.normalize_email(email.strip()),
            is_staff=superuser,
            is_superuser=superuser,
            is_active=not inactive,
        )
        # Every check before the first write: field rules and uniqueness, then the
        # password validators (which may compare the password with the username).
        user.full_clean(exclude=["password"])
        if password is not None:
            if not password:
                raise CommandError("The password may not be empty; leave out --password.")
            validate_password(password, user)
            user.set_password(password)
        else:
            user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # made by someone else since the uniqueness check
            raise CommandError(f"A user named {username} already exists.") from None
        return (
            {"id": user.pk, "username": user.get_username()},
            f"Created user {user.get_username()} (id {user.pk})"
            + (", superuser" if superuser else "")
            + (", inactive" if inactive else "")
            + ".",
        )
