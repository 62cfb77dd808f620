from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Print a JWT for USERNAME, for scripts and remote headless runners."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--minutes", type=int, default=60, help="Lifetime in minutes (default: %(default)s).")

    def handle(self, *args, username, minutes, **options):
        if minutes < 1:
            raise CommandError("--minutes must be at least 1")
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}")
        self.stdout.write(user.generate_jwt_token(minutes=minutes, purpose="script"))
