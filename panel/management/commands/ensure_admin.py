"""Create the first administrator once, and say its generated password that one time only.

The password is kept nowhere: it is printed when the account is made (or reset with ``--reset``) and stored
only as Django's hash. ``manage.py ensure_admin --reset`` gives the account a new generated password.
"""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

# Where earlier versions kept the password in plain text; removed when found.
LEGACY_PASSWORD_FILE = Path(settings.BASE_DIR) / "var" / "admin-password"


class Command(BaseCommand):
    help = "Create the admin account if missing (printing its password once); --reset gives it a new password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--reset", action="store_true", help="set a new generated password and print it")

    def handle(self, *args: object, **options: object) -> None:
        username = str(options["username"])
        user = get_user_model().objects.filter(username=username).first()
        if user is not None and not options["reset"]:
            self.stdout.write(f"login: {username} (password printed when it was made; "
                              f"`manage.py ensure_admin --username {username} --reset` sets a new one)")
        else:
            password = secrets.token_urlsafe(12)
            if user is None:
                get_user_model().objects.create_superuser(username=username, email="", password=password)
                made = "made"
            else:
                if not user.is_superuser:
                    raise CommandError(f"{username} is not a superuser: reset its password on the users page")
                user.set_password(password)
                user.save(update_fields=["password"])
                made = "reset"
            self.stdout.write(f"login: {username}  password: {password}  ({made} now and shown only this once)")
        if LEGACY_PASSWORD_FILE.exists():
            LEGACY_PASSWORD_FILE.unlink()
            self.stdout.write(f"removed {LEGACY_PASSWORD_FILE}: passwords are no longer kept in plain text "
                              "(the one it held still works)")
