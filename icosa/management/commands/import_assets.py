from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from icosa.importing import ImportProblem, import_planned, plan_imports


class Command(BaseCommand):
    help = "Import model files or folders of them as COMPLETE gallery assets, sidecar files included."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Model files or folders.")
        parser.add_argument("--owner", metavar="USERNAME", help="Owner of the new assets (default: none).")
        parser.add_argument("--name", help="Asset name (only with a single file; default: the file name).")

    def handle(self, *args, paths, owner, name, **options):
        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"No user named {owner!r}")
        try:
            planned = plan_imports(paths)
        except (ImportProblem, OSError) as exc:
            raise CommandError(str(exc)) from None
        if name and len(planned) != 1:
            raise CommandError("--name needs exactly one model file")
        if not planned:
            raise CommandError("No model files found")
        self.stdout.write(f"Importing {len(planned)} asset{'s' if len(planned) != 1 else ''}")
        for each in planned:
            asset = import_planned(each, owner=user, name=name)
            formats = ", ".join(f.format_type for f in asset.formats.all())
            resources = asset.resources.count()
            self.stdout.write(f"  {asset.pk}  {each.root.name}  [{formats}, {resources} file{'s' if resources != 1 else ''}]")
        self.stdout.write(self.style.SUCCESS(f"Imported {len(planned)} asset{'s' if len(planned) != 1 else ''}."))
