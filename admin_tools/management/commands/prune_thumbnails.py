"""Remove old thumbnail versions and their files, keeping the newest N per asset."""

import argparse
import sys

from django.core.management.base import BaseCommand, CommandError

from admin_tools import services


def non_negative_int(value):
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is negative; use 0 or more")
    return number


def plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(versions, files, freed, *, dry_run):
    verb = "Would remove" if dry_run else "Removed"
    return f"{verb} {plural(versions, 'thumbnail version')} and {plural(files, 'file')}, freeing {freed} bytes."


class Command(BaseCommand):
    help = (
        "Delete all but the newest --keep earlier thumbnail versions of each asset, "
        "and files nothing else uses; current thumbnails are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep",
            type=non_negative_int,
            required=True,
            help="Earlier (non-current) versions to keep per asset; required, 0 keeps none.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what would be removed; remove nothing.",
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation (only asked in a terminal).",
        )

    def handle(self, *, keep, dry_run, interactive, **options):
        versions, files, freed = services.prune_versions(keep=keep, dry_run=True)
        if not versions:
            self.stdout.write(f"Nothing to prune: no asset has more than {plural(keep, 'earlier version')}.")
            return
        if dry_run:
            self.stdout.write(self.style.SUCCESS(summary(versions, files, freed, dry_run=True)))
            return
        if interactive and sys.stdin.isatty():
            self.stdout.write(summary(versions, files, freed, dry_run=True))
            answer = input("Type 'yes' to continue, or anything else to cancel: ")
            if answer.strip().lower() != "yes":
                raise CommandError("Pruning cancelled; nothing was removed.")
        versions, files, freed = services.prune_versions(keep=keep)
        self.stdout.write(self.style.SUCCESS(summary(versions, files, freed, dry_run=False)))
