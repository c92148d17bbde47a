"""Create the first administrator once, keep its generated password in a file only root reads."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Create the admin account if missing and print its login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", default=str(Path(settings.BASE_DIR) / "var" / "admin-password"))

    def handle(self, *args: object, **options: str) -> None:
        user_model = get_user_model()
        username = options["username"]
        password_file = Path(options["password_file"])
        if not user_model.objects.filter(username=username).exists():
            password = secrets.token_urlsafe(12)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.touch(mode=0o600)
            password_file.write_text(password + "\n")
            user_model.objects.create_superuser(username=username, email="", password=password)
        if password_file.exists():
            password = password_file.read_text().strip()
        else:
            password = "(set before; not stored here — use manage.py changepassword)"
        self.stdout.write(f"login: {username}  password: {password}")
