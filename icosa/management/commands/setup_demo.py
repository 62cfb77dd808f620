import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from icosa.demo import write_demo_models
from icosa.importing import import_model
from icosa.models import Asset


class Command(BaseCommand):
    help = "Create the demo admin and import generated demo models (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--models-dir", default="media/demo-models", help="Where generated models go (default: %(default)s)."
        )
        parser.add_argument("--username", default="admin", help="Demo admin username (default: %(default)s).")

    def handle(self, *args, models_dir, username, **options):
        password_file = Path(settings.MEDIA_ROOT) / ".demo-admin-password"
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(
                username=username, email=f"{username}@example.com", password=password, displayname="Demo Admin"
            )
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password)
        password = (
            password_file.read_text().strip()
            if password_file.exists()
            else "(set before this demo; reset with: manage.py changepassword admin)"
        )

        imported = 0
        for path in write_demo_models(models_dir):
            name = path.stem.replace("-", " ").title()
            if not Asset.objects.filter(name=name).exists():
                import_model(path, owner=user, name=name)
                imported += 1
        total = Asset.objects.count()
        missing = Asset.objects.filter(thumbnail="").count()
        self.stdout.write(
            self.style.SUCCESS(f"Imported {imported} demo model(s); {total} assets, {missing} without a thumbnail.")
        )
        self.stdout.write("")
        self.stdout.write(f"  Admin login:  http://127.0.0.1:8000/admin/   user: {username}   password: {password}")
        self.stdout.write("  Generator:    http://127.0.0.1:8000/admin/icosa/asset/batch-thumbnail-generator/")
        self.stdout.write("  Gallery:      http://127.0.0.1:8000/")
        self.stdout.write("  Headless:     .venv/bin/python manage.py render_thumbnails")
        self.stdout.write("")
