"""``manage.py thumbnail_status``: how far the thumbnail backlog has come."""

import json

from django.core.management.base import BaseCommand, CommandError

from admin_tools import fleet, selectors
from admin_tools.pageconfig import api_base
from admin_tools.runner import ApiError, AuthError, ThumbnailApi
from admin_tools.runner.client import read_token

TOKEN_ENV = "ICOSA_JWT_TOKEN"


class Command(BaseCommand):
    help = "Print thumbnail progress: done of total, remaining, failed and in progress."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # No abbreviations: "--token JWT" must be an error, never a prefix of --token-file.
        return super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help="Print the counts as JSON.",
        )
        parser.add_argument(
            "--server",
            metavar="URL",
            help="Ask the gallery at URL through its API (default: this project's database).",
        )
        parser.add_argument(
            "--token-file",
            metavar="PATH",
            help=f"File holding the JWT for --server (default: ${TOKEN_ENV}).",
        )

    def handle(self, *args, as_json=False, server=None, token_file=None, **options):
        if server:
            progress = self._remote(server, token_file)
        else:
            progress = {**selectors.thumbnail_progress(), **fleet.overview(include_gone=False)}
        if as_json:
            self.stdout.write(json.dumps(progress, indent=2, sort_keys=True, default=str))
            return
        total = progress["total"]
        width = len(f"{total:,}")
        rows = [
            (
                "With thumbnails",
                f"{progress['with_thumbnail']:,} / {total:,} ({progress['percent']:.1f}%)",
            ),
            (
                "Remaining",
                f"{progress['remaining']:>{width},} ({progress['renderable_remaining']:,} renderable, "
                f"{progress['not_renderable']:,} not renderable in the viewer)",
            ),
            (
                "Failed",
                f"{progress['failed']:>{width},} (gave up after repeated failures)",
            ),
            (
                "In progress",
                f"{progress['in_progress']:>{width},} (leased to runners or pages)",
            ),
        ]
        label = max(len(name) for name, _ in rows) + 1
        for name, value in rows:
            self.stdout.write(f"{name + ':':<{label}} {value}")
        if "runners" in progress:
            self._fleet(progress)
        if progress["remaining"] == 0:
            self.stdout.write(self.style.SUCCESS("Every asset has a thumbnail."))

    def _fleet(self, progress):
        """The runners that are alive or stale, and the backlog's ETA at the fleet's rate."""
        runners = progress["runners"]
        self.stdout.write(f"Runners: {len(runners)} ({sum(r['state'] == fleet.ALIVE for r in runners)} alive)")
        for row in runners:
            self.stdout.write(
                f"  {row['runner_id']}  {row['state']}  {row['user']}@{row['host']}  v{row['version']}  "
                f"done {row['done']}, failed {row['failed']}, {row['rate_per_minute']:.1f}/min  {row['renderer']}"
            )
        eta = progress["eta_seconds"]
        if eta is None:
            self.stdout.write("ETA: no runner is rendering")
        else:
            hours, rest = divmod(int(eta), 3600)
            self.stdout.write(
                f"ETA: {hours}h {rest // 60:02d}m for {progress['eta_assets']:,} at "
                f"{progress['fleet_rate_per_minute']:.1f} assets/min"
            )

    def _remote(self, server, token_file):
        try:
            token = read_token(token_file, TOKEN_ENV)
        except OSError as error:
            raise CommandError(f"Cannot read --token-file: {error}", returncode=2) from None
        if not token:
            raise CommandError(f"--server needs --token-file or ${TOKEN_ENV}", returncode=2)
        api = ThumbnailApi(server.rstrip("/") + api_base(), token)
        try:
            progress = api.status()
            crew = api.fleet()
        except AuthError as error:
            raise CommandError(f"The API refused the token: {error}", returncode=2) from None
        except ApiError as error:
            raise CommandError(f"The API did not answer: {error}", returncode=2) from None
        # The same view as local mode: runners that went away are history, not the fleet.
        crew["runners"] = [row for row in crew["runners"] if row["state"] != fleet.GONE]
        return {**progress, **crew}
