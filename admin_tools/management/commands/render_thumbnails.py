"""``manage.py render_thumbnails``: render missing thumbnails in headless Chromium."""

import dataclasses
import functools
import json
import logging
import os
import re
import socket
import time as clock
from datetime import datetime, time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from admin_tools.ids import parse_asset_ids
from admin_tools.pageconfig import MAX_BATCH, RENDER_SIZE_LIMITS, api_base
from admin_tools.runner import (
    BrowserUnavailable,
    EmbeddedServer,
    Runner,
    RunnerUnavailable,
    RunOptions,
    ServerError,
    find_chromium,
)
from admin_tools.runner.client import read_token
from admin_tools.runner.console import CommandListener, plural, write_summary
from admin_tools.runner.options import BROWSER_MODES, PER_WORKER, RECYCLE_AFTER, RECYCLE_BROWSER_AFTER
from admin_tools.runner.summary import EXIT_INTERRUPTED, EXIT_SOME_FAILED, EXIT_UNUSABLE
from admin_tools.turntable import MAX_FRAMES, MIN_FRAMES

logger = logging.getLogger(__name__)

TOKEN_ENV = "ICOSA_JWT_TOKEN"
#: Lifetime of a token this command mints for itself; pages get a new one well before.
RUNNER_TOKEN_MINUTES = 12 * 60


def _size(value):
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
    if not match:
        raise ValueError(value)
    width, height = int(match[1]), int(match[2])
    low, high = RENDER_SIZE_LIMITS
    if not (low <= width <= high and low <= height <= high):
        raise ValueError(value)
    return width, height


def _iso(value):
    """An ISO date or date-time, sent on as an aware date-time (a bare date is midnight)."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment.isoformat()


def _ids(value):
    """--asset-ids: the API's own id type (parse_asset_ids), sent on as strings."""
    return [str(pk) for pk in parse_asset_ids([value])]


class Command(BaseCommand):
    help = "Render missing asset thumbnails in headless Chromium, with the admin page's renderer."
    # The system checks run in the run's own set-up (``_connect``), beside Chromium starting.
    requires_system_checks = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        # No abbreviations: "--token JWT" must be an error, never a prefix of --token-file.
        return super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

    def add_arguments(self, parser):
        # Django adds it only to commands that check before handle(); this one checks in _connect.
        parser.add_argument("--skip-checks", action="store_true", help="Skip the system checks.")
        render_w, render_h = settings.THUMBNAIL_RENDER_SIZE
        where = parser.add_argument_group("where and who")
        where.add_argument(
            "--server",
            metavar="URL",
            help="Work for the gallery at URL (default: serve this project on 127.0.0.1).",
        )
        where.add_argument(
            "--token-file",
            metavar="PATH",
            help=f"File holding the JWT for --server (default: ${TOKEN_ENV}; see manage.py create_jwt).",
        )
        where.add_argument(
            "--user",
            metavar="USERNAME",
            help="Mint a token locally for this user (default: the first active superuser).",
        )
        where.add_argument(
            "--runner-id",
            help="Name this runner in leases and versions (default: <hostname>-<pid>).",
        )

        what = parser.add_argument_group("what to render")
        what.add_argument("--limit", type=int, help="Render at most this many assets.")
        what.add_argument(
            "--asset-ids",
            type=_ids,
            action="append",
            metavar="ID[,ID…]",
            help="Only these assets (comma-separated or repeated).",
        )
        what.add_argument(
            "--force",
            action="store_true",
            help="Regenerate assets that have a thumbnail.",
        )
        what.add_argument(
            "--retry-failed",
            action="store_true",
            help="Include assets that failed THUMBNAIL_MAX_FAILURES times already.",
        )
        what.add_argument("--created-after", type=_iso, metavar="DATE", help="ISO date/time.")
        what.add_argument("--created-before", type=_iso, metavar="DATE", help="ISO date/time.")
        what.add_argument(
            "--generated-before",
            type=_iso,
            metavar="DATE",
            help="With --force: only thumbnails generated before this ISO date/time.",
        )
        what.add_argument(
            "--renderer-not",
            metavar="RENDERER",
            help="With --force: only thumbnails made by a renderer other than this string.",
        )
        what.add_argument("--owner", help="Only assets of this username or email.")
        what.add_argument(
            "--format",
            dest="format_type",
            metavar="TYPE",
            help="Only assets with this format (GLB, OBJ…).",
        )
        what.add_argument(
            "--watch",
            action="store_true",
            help="Keep polling for new assets instead of stopping when none are left.",
        )
        what.add_argument(
            "--poll-seconds",
            type=float,
            default=15.0,
            help="With --watch, wait this long between polls (default: %(default)s).",
        )
        what.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would be rendered; claim nothing.",
        )

        how = parser.add_argument_group("how")
        how.add_argument(
            "--workers",
            type=int,
            default=1,
            help="Pages rendering at once, each in its own browser context (default: %(default)s); see --browsers.",
        )
        how.add_argument(
            "--browsers",
            choices=BROWSER_MODES,
            default=PER_WORKER,
            help="Each worker its own Chromium (on SwiftShader they render in parallel only then), "
            "or all pages in one (default: %(default)s).",
        )
        how.add_argument(
            "--batch-size",
            type=int,
            default=10,
            help=f"Assets claimed per request, 1 to {MAX_BATCH} (default: %(default)s).",
        )
        how.add_argument(
            "--timeout",
            type=float,
            default=settings.THUMBNAIL_RENDER_TIMEOUT_SECONDS,
            help="Seconds allowed to load and render one model (default: %(default)s).",
        )
        # Left unset, size, quality and background are the gallery's own (THUMBNAIL_*
        # settings, embedded in the headless page), so a remote runner follows its server.
        how.add_argument(
            "--size",
            type=_size,
            metavar="WxH",
            help=f"Render size in pixels (default: the gallery's, here {render_w}x{render_h}).",
        )
        how.add_argument(
            "--quality",
            type=float,
            help="JPEG quality of the capture, 0 to 1 (default: the gallery's, as the admin page).",
        )
        how.add_argument(
            "--background",
            help=f"Background colour (default: the gallery's, here {settings.THUMBNAIL_BACKGROUND}).",
        )
        how.add_argument(
            "--turntable",
            type=int,
            metavar="N",
            help="Also store an animated WebP turntable preview of N frames per model, 0 none "
            f"(default: the gallery's, here {settings.THUMBNAIL_TURNTABLE_FRAMES}).",
        )
        how.add_argument(
            "--gpu",
            action="store_true",
            help="Use the GPU (ANGLE on Vulkan) instead of SwiftShader on the CPU.",
        )
        how.add_argument(
            "--chromium",
            metavar="PATH",
            help="Chromium executable (default: $CHROMIUM_PATH or /usr/bin/chromium).",
        )
        how.add_argument(
            "--recycle-after",
            type=int,
            default=RECYCLE_AFTER,
            metavar="N",
            help="Replace a page with a fresh one after N models; 0 never (default: %(default)s).",
        )
        how.add_argument(
            "--recycle-browser-after",
            type=int,
            default=RECYCLE_BROWSER_AFTER,
            metavar="N",
            help="With per-worker browsers, give a worker a fresh Chromium at its first page "
            "recycle after N models; 0 never (default: %(default)s).",
        )
        how.add_argument(
            "--json-report",
            metavar="PATH",
            help="Also write the summary as JSON to PATH.",
        )

    def log(self, message, level=1, style=None):
        if self.verbosity >= level:
            self.stdout.write(style(message) if style else message)

    def handle(self, *args, **options):
        started = clock.monotonic()
        self.verbosity = options["verbosity"]
        self._token_user = None
        self._check_options(options)
        remote = (options["server"] or "").rstrip("/")
        credential = self._remote_token(options) if remote else self._token_user_for(options["user"])
        embedded = None if remote else EmbeddedServer()
        connect = functools.partial(self._connect, options, remote=remote, embedded=embedded, credential=credential)
        try:
            if options["dry_run"]:
                runner = Runner(self._browser_options(options, chromium=""), started=started, connect=connect)
                return self._dry_run(runner, options)
            try:
                chromium = find_chromium(options["chromium"])
            except BrowserUnavailable as error:
                raise CommandError(str(error), returncode=EXIT_UNUSABLE) from None
            listener = CommandListener(self, verbosity=self.verbosity)
            runner = Runner(
                self._browser_options(options, chromium=chromium), listener=listener, started=started, connect=connect
            )
            try:
                summary = runner.run()
            finally:
                listener.close()
        finally:
            if embedded is not None:
                embedded.stop()
        write_summary(self.stdout, self.style, summary, verbosity=self.verbosity)
        if options["json_report"]:
            self._write_report(options["json_report"], summary.to_dict())
        self._exit(summary)

    # -- set-up -------------------------------------------------------------------------------

    def _check_options(self, options):
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        if not 1 <= options["batch_size"] <= MAX_BATCH:
            raise CommandError(f"--batch-size must be between 1 and {MAX_BATCH}")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["quality"] is not None and not 0 < options["quality"] <= 1:
            raise CommandError("--quality must be between 0 and 1")
        if options["timeout"] <= 0:
            raise CommandError("--timeout must be positive")
        if options["recycle_after"] < 0:
            raise CommandError("--recycle-after must be 0 or more")
        turntable = options["turntable"]
        if turntable is not None and turntable != 0 and not MIN_FRAMES <= turntable <= MAX_FRAMES:
            raise CommandError(f"--turntable must be 0 (none) or {MIN_FRAMES} to {MAX_FRAMES} frames")
        if options["recycle_browser_after"] < 0:
            raise CommandError("--recycle-browser-after must be 0 or more")

    def _remote_token(self, options):
        """--token-file, then $ICOSA_JWT_TOKEN, then the user to mint one for locally (--user)."""
        try:
            token = read_token(options["token_file"], TOKEN_ENV)
        except OSError as error:
            raise CommandError(f"Cannot read --token-file: {error}", returncode=EXIT_UNUSABLE) from None
        if token:
            return token
        if options["user"]:
            return self._token_user_for(options["user"])
        raise CommandError(
            f"--server needs a token: pass --token-file, set ${TOKEN_ENV}, or --user to mint one "
            "here (same JWT_SECRET_KEY as the server)",
            returncode=EXIT_UNUSABLE,
        )

    def _token_user_for(self, username):
        """The user this run mints its tokens for: ``--user``, or the first active superuser."""
        users = get_user_model().objects.filter(is_active=True)
        if username:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"No active user named {username!r}", returncode=EXIT_UNUSABLE)
        else:
            user = users.filter(is_superuser=True).order_by("pk").first()
            if user is None:
                raise CommandError(
                    "No active superuser to run as: pass --user USERNAME or create one (manage.py createsuperuser)",
                    returncode=EXIT_UNUSABLE,
                )
        self._token_user = user
        return user

    def _browser_options(self, options, *, chromium):
        """The run's options as far as its browsers need them; ``_connect`` adds the server."""
        width, height = options["size"] or (None, None)
        runner_name = options["runner_id"] or f"{socket.gethostname()}-{os.getpid()}"
        return RunOptions(
            # Known once connected (``_connect``).
            server="",
            token="",
            api_base="",
            page_url="",
            module_url="",
            runner_name=runner_name[:128],
            limit=options["limit"],
            batch_size=options["batch_size"],
            workers=options["workers"],
            browsers=options["browsers"],
            timeout=options["timeout"],
            width=width,
            height=height,
            quality=options["quality"],
            background=options["background"],
            turntable=options["turntable"],
            gpu=options["gpu"],
            chromium=chromium,
            watch=options["watch"],
            poll_seconds=options["poll_seconds"],
            recycle_after=options["recycle_after"],
            recycle_browser_after=options["recycle_browser_after"],
        )

    def _connect(self, options, base, *, remote, embedded, credential):
        """The system checks, the server and the token: ``base`` (_browser_options) complete.
        ``credential``: a token for the remote server, or the user tokens are minted for.

        The run calls this in a thread while its first Chromium starts. The API's modules
        (the filters' schema, JWT) are imported here, not at the top, for the same reason.
        """
        from admin_tools.filters import WorkFilters
        from icosa.jwt_auth import mint_token

        if not options.get("skip_checks"):
            self.check()
        server = remote
        if embedded is not None:
            try:
                server = embedded.start()
            except ServerError as error:
                raise CommandError(str(error), returncode=EXIT_UNUSABLE) from None
            self.log(f"Serving this project at {server} for the run.", level=2)
        token_factory = None
        if self._token_user is not None:
            user = self._token_user
            token_factory = lambda: mint_token(  # noqa: E731
                user=user, minutes=RUNNER_TOKEN_MINUTES, purpose="runner"
            )
        filters = WorkFilters(
            force=options["force"],
            include_failed=options["retry_failed"],
            asset_ids=[pk for group in options["asset_ids"] or [] for pk in group] or None,
            owner=options["owner"],
            format_type=options["format_type"],
            created_after=options["created_after"],
            created_before=options["created_before"],
            generated_before=options["generated_before"],
            renderer_not=options["renderer_not"],
        )
        return dataclasses.replace(
            base,
            server=server,
            token=token_factory() if token_factory is not None else credential,
            api_base=server + api_base(),
            page_url=server + reverse("batch_thumbs:headless"),
            module_url=static("batch_thumbs/headless.js"),
            filters=filters.model_dump(exclude_defaults=True),
            token_factory=token_factory,
        )

    # -- output -------------------------------------------------------------------------------

    def _dry_run(self, runner, options):
        try:
            assets, total = runner.dry_run()
        except RunnerUnavailable as error:
            raise CommandError(str(error), returncode=EXIT_UNUSABLE) from None
        self.log(f"{plural(total, 'asset')} would be rendered; listing {len(assets)}:")
        for asset in assets:
            formats = ", ".join(f["format_type"] for f in asset.get("formats", [])) or "no format"
            state = " (has a thumbnail)" if asset.get("has_thumbnail") else ""
            failure = asset.get("failure")
            if failure:
                state += f" (failed {failure['attempts']}x: {failure['reason']})"
            self.log(f"  {asset['id']}  {asset['name']}  [{formats}]{state}")
        if options["json_report"]:
            self._write_report(
                options["json_report"],
                {"dry_run": True, "total": total, "assets": [a["id"] for a in assets]},
            )
        self.log(self.style.SUCCESS(f"Dry run: nothing claimed, {plural(len(assets), 'asset')} listed."))

    def _write_report(self, path, data):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str))
        self.log(f"Report written to {path}", level=2)

    def _exit(self, summary):
        code = summary.exit_code
        if code == EXIT_UNUSABLE:
            raise CommandError(f"The run could not work: {summary.error}", returncode=code)
        if code == EXIT_INTERRUPTED:
            raise CommandError(
                "Interrupted; claimed assets were released. Run again to continue.",
                returncode=code,
            )
        if code == EXIT_SOME_FAILED:
            raise CommandError(f"{plural(summary.failed, 'asset')} failed.", returncode=code)
