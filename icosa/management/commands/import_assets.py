from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from icosa.importing import ImportProblem, import_planned, plan_imports


class Command(BaseCommand):
    help = "Import model files or folders of them as COMPLETE gallery assets, sidecar files included."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Model files or folders.")
        parser.add_argument("--owner", metavar="USERNAME", help="Owner of the new assets (default: none).")
        parser.add_argument("--name", help="Asset name (only with a single file; default: the file name).")
        parser.add_argument(
            "--render",
            action="store_true",
            help="Render the imported assets' thumbnails before returning (render_thumbnails, "
            "in headless Chromium). Without it they are queued first for any watching runner.",
        )
        parser.add_argument(
            "--render-user",
            metavar="USERNAME",
            help="With --render: the staff user the thumbnails are made as (default: the first superuser).",
        )

    def handle(self, *args, paths, owner, name, render=False, render_user=None, **options):
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
        imported = []
        for each in planned:
            asset = import_planned(each, owner=user, name=name)
            imported.append(asset.pk)
            formats = ", ".join(f.format_type for f in asset.formats.all())
            resources = asset.resources.count()
            self.stdout.write(
                f"  {asset.pk}  {each.root.name}  [{formats}, {resources} file{'s' if resources != 1 else ''}]"
            )
        self.stdout.write(self.style.SUCCESS(f"Imported {len(planned)} asset{'s' if len(planned) != 1 else ''}."))
        if render:
            self._render(imported, render_user)
        else:
            self.stdout.write(
                "Queued for thumbnails (recently completed assets go first; see render_thumbnails --watch)."
            )

    def _render(self, asset_ids, username):
        """The same run as ``render_thumbnails --asset-ids``, in this process; its summary is
        printed and a failed render fails this command (exit code of render_thumbnails)."""
        from django.core.management import call_command

        args = ["--asset-ids", ",".join(str(pk) for pk in asset_ids)]
        if username:
            args += ["--user", username]
        self.stdout.write(f"Rendering {len(asset_ids)} thumbnail{'s' if len(asset_ids) != 1 else ''}…")
        call_command("render_thumbnails", *args, stdout=self.stdout._out, stderr=self.stderr._out)
