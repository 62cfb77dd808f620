"""Bake the studio environment every thumbnail is lit by into a static file.

The page prefilters three's RoomEnvironment into a PMREM (environment.js); on software GL
that took 5-6 s of every page start. Its result depends only on three's version, so it is
baked once here, in a real browser through the page's own module, and every page then loads
it as a texture. Run it again after upgrading three (the page falls back to prefiltering, and
says so, while the file is for another revision).
"""

import asyncio
import base64
import gzip
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.templatetags.static import static
from django.urls import reverse

from admin_tools.importmap import ENVIRONMENT_FILE

BAKE_SCRIPT = """async ({module, apiClient}) => {
    const environment = await import(module);
    const {dataUrlOf} = await import(apiClient);
    const {header, bytes} = environment.bakeEnvironment();
    const url = await dataUrlOf(new Blob([bytes], {type: 'application/octet-stream'}));
    return {header, data: url.slice(url.indexOf(',') + 1)};
}"""


def default_output():
    """The file next to environment.js in this project's static folder."""
    return Path(settings.BASE_DIR) / "static" / ENVIRONMENT_FILE


def write_environment(path, raw):
    """gzip ``raw`` into ``path`` atomically, with no timestamp (the same bake, the same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        with gzip.GzipFile(filename="", fileobj=handle, mode="wb", compresslevel=9, mtime=0) as out:
            out.write(raw)
    os.replace(temporary, path)


class Command(BaseCommand):
    help = "Prefilter the studio environment in Chromium and store it for every page (static/…/room.bin)."

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, default=None, help="Output file (default: next to environment.js).")
        parser.add_argument(
            "--chromium", default=None, help="Chromium executable (default: $CHROMIUM_PATH or /usr/bin/chromium)."
        )
        parser.add_argument("--gpu", action="store_true", help="Bake on the GPU instead of SwiftShader.")

    def handle(self, *args, **options):
        from admin_tools.runner import BrowserUnavailable, EmbeddedServer, ServerError, find_chromium

        output = options["output"] or default_output()
        try:
            chromium = find_chromium(options["chromium"])
            with EmbeddedServer() as server:
                baked = asyncio.run(self._bake(server.url, chromium, gpu=options["gpu"]))
        except (BrowserUnavailable, ServerError) as error:
            raise CommandError(str(error)) from None
        raw = base64.b64decode(baked["data"])
        write_environment(output, raw)
        header = baked["header"]
        self.stdout.write(
            f"Baked the environment for three.js r{header['three']} ({header['size']} px faces, "
            f"{header['levels']} levels): {output} ({output.stat().st_size / 1e6:.1f} MB)"
        )

    async def _bake(self, server_url, chromium, *, gpu):
        from playwright.async_api import Error as PlaywrightError

        from admin_tools.runner.browser import BrowserSession, first_line

        session = BrowserSession(executable_path=chromium, gpu=gpu)
        await session.start()
        try:
            page = await session.browser.new_page()
            response = await page.goto(server_url + reverse("batch_thumbs:headless"), wait_until="load")
            if response is not None and not response.ok:
                raise CommandError(f"The headless page answered HTTP {response.status}")
            modules = {
                "module": server_url + static("batch_thumbs/environment.js"),
                "apiClient": server_url + static("batch_thumbs/api-client.js"),
            }
            return await page.evaluate(BAKE_SCRIPT, modules)
        except PlaywrightError as error:
            raise CommandError(f"The bake failed in the browser: {first_line(error)}") from None
        finally:
            await session.stop()
