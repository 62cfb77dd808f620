"""Back-fill the derivatives (card widths, WebP, transparent ones) of stored thumbnail versions."""

import argparse

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from admin_tools import backfill

from .prune_thumbnails import non_negative_int, plural


def positive_int(value):
    number = non_negative_int(value)
    if number == 0:
        raise argparse.ArgumentTypeError("0 is not a limit; use 1 or more")
    return number


class Command(BaseCommand):
    help = (
        "Give thumbnail versions every derivative the current THUMBNAIL_* settings call for, "
        "built from each version's stored preview the way an upload builds them. Versions made "
        "before the extra sizes existed, or whose background job was lost, get what they lack."
    )

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--missing",
            action="store_const",
            const=False,
            dest="rebuild",
            help="Make only the derivatives a version lacks (the default).",
        )
        mode.add_argument(
            "--all",
            action="store_const",
            const=True,
            dest="rebuild",
            help="Rebuild every derivative (after a quality or size setting changed); replaced files are deleted.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would be made; change nothing.")
        parser.add_argument(
            "--limit", type=positive_int, help="Stop after this many versions needed work (default: no limit)."
        )
        parser.add_argument("--current-only", action="store_true", help="Only the assets' current versions.")
        parser.add_argument(
            "--min-age-minutes",
            type=non_negative_int,
            default=10,
            dest="min_age",
            help="Leave versions younger than this to their upload's own background job (default: %(default)s).",
        )

    def handle(self, *, rebuild, dry_run, limit, current_only, min_age, verbosity, **options):
        queryset = backfill.versions(current_only=current_only, min_age_minutes=min_age)
        total = queryset.count()
        stream = getattr(self.stdout, "_out", self.stdout)
        bar = tqdm(
            total=total,
            unit="version",
            file=stream,
            disable=verbosity < 1 or not (hasattr(stream, "isatty") and stream.isatty()),
            leave=False,
        )
        counts = dict.fromkeys((backfill.COMPLETE, backfill.BUILT, backfill.WOULD_BUILD, *backfill.PROBLEMS), 0)
        made = dropped = 0
        for outcome in backfill.backfill(queryset, rebuild=bool(rebuild), dry_run=dry_run, limit=limit):
            bar.update(1)
            counts[outcome.status] += 1
            made += outcome.made
            dropped += outcome.dropped
            line = self._line(outcome, dry_run=dry_run)
            if line and (verbosity >= 1 or outcome.status in backfill.PROBLEMS):
                style = self.style.ERROR if outcome.status in backfill.PROBLEMS else None
                text = style(line) if style else line
                if bar.disable:
                    (self.stderr if style else self.stdout).write(text)
                else:
                    tqdm.write(text, file=stream)
        bar.close()
        checked = sum(counts.values())
        verb = "would remove" if dry_run else "removed"
        summary = (
            f"Checked {plural(checked, 'version')} of {total}: {counts[backfill.COMPLETE]} complete, "
            + (
                f"{counts[backfill.WOULD_BUILD]} would be back-filled"
                if dry_run
                else f"{counts[backfill.BUILT]} back-filled ({plural(made, 'derivative')} made)"
            )
            + f", {counts[backfill.SOURCE_MISSING]} with their source file missing, {counts[backfill.FAILED]} failed; "
            f"{verb} {plural(dropped, 'row')} naming a missing file."
        )
        problems = counts[backfill.SOURCE_MISSING] + counts[backfill.FAILED]
        if problems:
            self.stdout.write(self.style.WARNING(summary))
            raise CommandError(f"{plural(problems, 'version')} could not be back-filled (listed above).", returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))

    @staticmethod
    def _line(outcome, *, dry_run):
        version = outcome.version
        head = f"version {version.pk} (asset {version.asset_id})"
        keys = ", ".join(f"{kind} {width} {fmt}" for kind, width, fmt in outcome.missing)
        dropped = f"; {plural(outcome.dropped, 'row')} naming a missing file" if outcome.dropped else ""
        if outcome.status == backfill.WOULD_BUILD:
            return f"{head}: would make {keys}{dropped}"
        if outcome.status == backfill.BUILT:
            return f"{head}: made {plural(outcome.made, 'derivative')} ({keys}){dropped}"
        if outcome.status == backfill.SOURCE_MISSING:
            source = outcome.detail or "its preview"
            return f"{head}: source file missing ({source}); lacks {keys}{dropped}"
        if outcome.status == backfill.FAILED:
            return f"{head}: failed: {outcome.detail}"
        if outcome.dropped:
            return f"{head}: {'would remove' if dry_run else 'removed'}{dropped[1:]}"
        return ""
