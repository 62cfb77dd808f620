from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Print a JWT for USERNAME, for scripts and remote headless runners."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--minutes",
            type=int,
            default=60,
            help="Lifetime in minutes, at most JWT_MAX_TOKEN_MINUTES (default: %(default)s).",
        )

    def handle(self, *args, username, minutes, **options):
        if not 1 <= minutes <= settings.JWT_MAX_TOKEN_MINUTES:
            raise CommandError(
                f"--minutes must be between 1 and {settings.JWT_MAX_TOKEN_MINUTES} (JWT_MAX_TOKEN_MINUTES)"
            )
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}")
        self.stdout.write(user.generate_jwt_token(minutes=minutes, purpose="script"))
