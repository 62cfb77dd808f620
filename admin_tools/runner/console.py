"""What ``render_thumbnails`` prints: one line per asset, a progress bar, the summary."""

from tqdm import tqdm

from admin_tools.runner import RunListener
from admin_tools.runner.summary import DONE, FAILED


def plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


class CommandListener(RunListener):
    """Prints one line per asset and keeps a tqdm bar on the raw stream when it is a TTY."""

    def __init__(self, command, *, verbosity):
        self.command = command
        self.verbosity = verbosity
        self.count = 0
        stream = getattr(command.stdout, "_out", command.stdout)
        self.stream = stream
        enabled = verbosity >= 1 and hasattr(stream, "isatty") and stream.isatty()
        self.bar = tqdm(
            total=None,
            unit="model",
            file=stream,
            disable=not enabled,
            dynamic_ncols=True,
            leave=False,
        )

    def _write(self, text, style=None, *, error=False):
        line = style(text) if style else text
        if not self.bar.disable:
            tqdm.write(line, file=self.stream)
        elif error:
            self.command.stderr.write(line)
        else:
            self.command.stdout.write(line)

    def announce(self, message):
        if self.verbosity >= 1:
            self._write(message)

    def total(self, count):
        if self.bar.total != count:
            self.bar.total = count
            self.bar.refresh()

    def warning(self, message):
        self._write(message, self.command.style.WARNING, error=True)

    def result(self, result):
        self.count += 1
        self.bar.update(1)
        if self.verbosity < 1:
            return
        style = self.command.style
        head = f"[{self.count}] {result.asset_id} {result.name[:40]!r}"
        if result.status == DONE:
            text = f"{head}: done in {result.ms:.0f} ms"
            if self.verbosity >= 2 and result.thumbnail_url:
                text += f" → {result.thumbnail_url}"
            self._write(text, style.SUCCESS)
            if result.turntable_error:
                self._write(f"{head}: {result.turntable_error}", style.WARNING, error=True)
        elif result.status == FAILED:
            detail = f" ({result.detail})" if result.detail else ""
            self._write(f"{head}: failed, {result.reason}{detail}", style.ERROR, error=True)
        else:
            self._write(f"{head}: skipped{f' ({result.detail})' if result.detail else ''}")

    def close(self):
        self.bar.close()


def write_summary(stdout, style, summary, *, verbosity=1):
    """The closing lines of a run: renderer, speed, failures by reason, the counts."""
    if verbosity < 1 or (summary.error and not summary.results):
        return
    if not summary.results and not summary.renderer and not summary.interrupted:
        stdout.write(style.SUCCESS("Nothing to render."))
        return
    stdout.write("")
    stdout.write(f"WebGL renderer: {summary.renderer or 'unknown'}")
    if summary.results:
        median = f"{summary.median_ms:.0f} ms" if summary.median_ms is not None else "n/a"
        p95 = f"{summary.p95_ms:.0f} ms" if summary.p95_ms is not None else "n/a"
        stdout.write(
            f"Per model: median {median}, p95 {p95}; "
            f"{summary.models_per_minute:.1f} models/minute over {summary.work_seconds:.1f} s"
            + (f"; first result after {summary.first_result_seconds:.1f} s" if summary.first_result_seconds else "")
        )
    if verbosity >= 2 and summary.startup:
        ordered = sorted(summary.startup.items(), key=lambda item: item[1])
        phases = ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in ordered)
        stdout.write(f"Start-up (from the command's start): {phases}")
    if summary.failure_reasons:
        reasons = ", ".join(f"{reason} {count}" for reason, count in summary.failure_reasons.items())
        stdout.write(f"Failures by reason: {reasons}")
    if summary.page_restarts:
        stdout.write(style.WARNING(f"Pages restarted after a crash or hang: {summary.page_restarts}"))
    line = f"{plural(summary.done, 'thumbnail')} done, {summary.failed} failed, {summary.skipped} skipped."
    if summary.error or summary.failed or summary.interrupted:
        stdout.write(style.WARNING(line))
    else:
        stdout.write(style.SUCCESS(line))


__all__ = ["CommandListener", "plural", "write_summary"]
