"""Page objects for the browser tests: they own the selectors and the waits."""

import re

from django.urls import reverse
from playwright.sync_api import Page, Route, expect

RUN_OVER = ("finished", "stopped", "error")


def wait_until(condition, page: Page, message: str, timeout_ms: int = 10_000) -> None:
    """Wait for a server-side effect the browser cannot report (a keepalive request)."""
    waited = 0
    while not condition():
        assert waited < timeout_ms, message
        page.wait_for_timeout(50)
        waited += 50


class AdminLogin:
    """The Django admin login form."""

    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url

    def login(self, username: str, password: str, next_url: str = "") -> None:
        url = self.base_url + reverse("admin:login")
        if next_url:
            url += f"?next={next_url}"
        self.page.goto(url)
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Log in").click()


class AssetChangeList:
    """/admin/icosa/asset/: the toolbar button and the actions."""

    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url

    def open(self) -> "AssetChangeList":
        self.page.goto(self.base_url + reverse("admin:icosa_asset_changelist"))
        return self

    def open_generator(self) -> "GeneratorPage":
        self.page.get_by_role("link", name="Batch Thumbnail Generator").click()
        generator = GeneratorPage(self.page, self.base_url)
        generator.wait_until_loaded()
        return generator

    def select(self, *asset_ids) -> None:
        for asset_id in asset_ids:
            self.page.locator(f'input.action-select[value="{asset_id}"]').check()

    def run_action(self, label: str) -> "GeneratorPage":
        self.page.get_by_role("combobox", name="Action").select_option(label=label)
        self.page.get_by_role("button", name="Go").click()
        generator = GeneratorPage(self.page, self.base_url)
        generator.wait_until_loaded()
        return generator


class GeneratorPage:
    """The Batch Thumbnail Generator page."""

    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.root = page.locator("#batch-thumbs")
        self.held: list[Route] = []

    # Navigation and state -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.base_url + reverse("admin:icosa_asset_batch_thumbnails")

    def open(self, query: str = "") -> "GeneratorPage":
        self.page.goto(self.url + query)
        self.wait_until_loaded()
        return self

    def wait_until_loaded(self) -> None:
        """The page checked WebGL and its token: ready, or showing why not."""
        expect(self.root).to_have_attribute("data-state", re.compile(r"^(ready|error)$"), timeout=30_000)

    def wait_until_over(self, timeout: float = 120_000) -> str:
        expect(self.root).to_have_attribute("data-run", re.compile("^(" + "|".join(RUN_OVER) + ")$"), timeout=timeout)
        return self.root.get_attribute("data-run")

    @property
    def alert(self):
        return self.page.locator("#bt-alert")

    @property
    def status(self):
        return self.page.locator("#bt-status")

    # Controls -------------------------------------------------------------------------------

    def button(self, name: str):
        return self.page.get_by_role("button", name=name, exact=True)

    def configure(self, *, batch_size=None, review=None, include_failed=None) -> None:
        if batch_size is not None:
            self.page.get_by_label("Batch size").fill(str(batch_size))
        if review is not None:
            self.page.get_by_label("Review mode").set_checked(review)
        if include_failed is not None:
            self.page.get_by_label("Include previously failed").set_checked(include_failed)

    def start(self) -> None:
        self.button("Start").click()

    def pause(self) -> None:
        self.button("Pause").click()

    def resume(self) -> None:
        self.button("Resume").click()

    def skip(self) -> None:
        self.button("Skip current").click()

    def stop(self) -> None:
        self.button("Stop").click()

    # Holding a model download, to act while an asset is in flight ---------------------------

    def hold_downloads(self, asset_id) -> None:
        """Hold every file request of one asset until ``release()`` (or forever)."""
        self.page.route(f"**/media/assets/{asset_id}/**", lambda route: self.held.append(route))

    def wait_for_held(self) -> None:
        """Wait until the held asset's first download has been intercepted."""
        wait_until(lambda: bool(self.held), self.page, "the held asset's download never started", 30_000)

    def release(self) -> None:
        routes, self.held = self.held, []
        for route in routes:
            route.continue_()

    # Reading the page -----------------------------------------------------------------------

    def stat(self, name: str) -> str:
        return self.page.locator(f"#bt-stat-{name}").text_content().strip()

    def stats(self) -> dict:
        return {name: self.stat(name) for name in ("total", "completed", "failed", "skipped")}

    def expect_current(self, asset_id, stage: str | None = None) -> None:
        expect(self.page.locator("#bt-current-id")).to_have_text(str(asset_id))
        if stage:
            expect(self.page.locator("#bt-current-stage")).to_have_text(stage)

    def current_name(self) -> str:
        return self.page.locator("#bt-current-name").text_content()

    def log_lines(self) -> list[str]:
        return self.page.locator("#bt-log li").all_text_contents()[::-1]

    def failure_rows(self) -> dict:
        rows = {}
        for row in self.page.locator("#bt-failures-body tr").all():
            cells = row.locator("td").all_text_contents()
            rows[row.get_attribute("data-asset-id")] = {"reason": cells[1], "detail": cells[2]}
        return rows

    def grid_ids(self) -> list[str]:
        return [item.get_attribute("data-asset-id") for item in self.page.locator("#bt-grid li").all()]
