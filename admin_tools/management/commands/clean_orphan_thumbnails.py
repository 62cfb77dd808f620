"""Delete thumbnail files no version or asset refers to (left by failed uploads)."""

import logging
import sys
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from admin_tools.models import THUMBNAIL_ROOT, ThumbnailVersion
from admin_tools.selectors import referenced_files

from .prune_thumbnails import non_negative_int, plural

logger = logging.getLogger(__name__)


def walk(storage, path):
    """Every file name under ``path``, recursively, through the storage API only."""
    try:
        directories, files = storage.listdir(path)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{path}/{name}"
    for directory in directories:
        yield from walk(storage, f"{path}/{directory}")


class Command(BaseCommand):
    help = (
        "Delete files under thumbnails/ in storage that no thumbnail version or asset "
        "refers to, such as files left behind when storage or the database failed."
    )
    prefix = THUMBNAIL_ROOT

    def add_arguments(self, parser):
        parser.add_argument(
            "--min-age-minutes",
            type=non_negative_int,
            default=60,
            dest="min_age",
            help=(
                "Only delete files at least this old, so uploads still in flight are left alone (default: %(default)s)."
            ),
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List the orphan files; delete nothing.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation (only asked in a terminal).",
        )

    def handle(self, *, min_age, dry_run, interactive, verbosity, **options):
        storage = ThumbnailVersion._meta.get_field("thumbnail").storage
        # List storage before reading the database: a file whose upload commits after
        # the references were read is younger than --min-age-minutes and is skipped.
        stored = list(walk(storage, self.prefix))
        unreferenced = sorted(set(stored) - referenced_files())
        cutoff = timezone.now() - timedelta(minutes=min_age)
        orphans, young = [], 0
        for name in unreferenced:
            try:
                if min_age and storage.get_modified_time(name) > cutoff:
                    young += 1
                    continue
                orphans.append((name, storage.size(name)))
            except Exception:  # gone since the listing, or storage trouble: skip it
                logger.exception("Could not inspect %s", name)
                self.stderr.write(self.style.ERROR(f"Could not inspect {name}; skipped"))

        self.stdout.write(
            f"Found {plural(len(stored), 'file')} under {self.prefix}/: "
            f"{len(orphans)} orphaned, {young} unreferenced but newer than "
            f"{plural(min_age, 'minute')} (left alone)."
        )
        total = sum(size for _, size in orphans)
        if dry_run or verbosity >= 2:
            for name, size in orphans:
                self.stdout.write(f"  {name} ({size} bytes)")
        if dry_run:
            would = f"Would delete {plural(len(orphans), 'orphan file')} ({total} bytes)."
            self.stdout.write(self.style.SUCCESS(would))
            return
        if not orphans:
            self.stdout.write(self.style.SUCCESS("Nothing to delete."))
            return
        if interactive and sys.stdin.isatty():
            answer = input(
                f"Delete {plural(len(orphans), 'file')}? Type 'yes' to continue, or anything else to cancel: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Cancelled; nothing was deleted.")

        deleted, freed, failed = 0, 0, 0
        for name, size in orphans:
            try:
                storage.delete(name)
            except Exception:
                logger.exception("Could not delete orphan thumbnail file %s", name)
                self.stderr.write(self.style.ERROR(f"Could not delete {name}"))
                failed += 1
                continue
            deleted += 1
            freed += size
        message = f"Deleted {plural(deleted, 'orphan file')} ({freed} bytes)."
        if failed:
            self.stdout.write(self.style.WARNING(f"{message} {failed} could not be deleted."))
            raise CommandError(f"{plural(failed, 'file')} could not be deleted.", returncode=2)
        self.stdout.write(self.style.SUCCESS(message))
