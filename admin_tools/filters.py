"""The work filters, shared by the listing, the claim and the command.

One schema names every filter once: ``GET missing-thumbnails`` and ``POST claim`` extend it,
``render_thumbnails`` validates its options through it, and the runner sends its fields as
they are to either endpoint.
"""

from django.utils.dateparse import parse_date, parse_datetime
from ninja import Field, Schema
from pydantic import field_validator


def check_iso(value: str | None) -> str | None:
    if value is not None and parse_datetime(value) is None and parse_date(value) is None:
        raise ValueError(f"'{value}' is not an ISO date or datetime")
    return value


class WorkFilters(Schema):
    """Which assets a listing or a claim is about."""

    viewer_compatible_only: bool = True
    include_failed: bool = False
    force: bool = Field(False, description="Include assets that already have a thumbnail.")
    asset_ids: list[str] | None = Field(None, description="Restrict to these ids (comma-separated or repeated).")
    owner: str | None = Field(None, description="Username or email of the owner.")
    format_type: str | None = None
    created_after: str | None = None
    created_before: str | None = None
    generated_before: str | None = None
    renderer_not: str | None = None

    @field_validator("created_after", "created_before", "generated_before")
    @classmethod
    def _iso_datetime(cls, value):
        return check_iso(value)

    def selector_kwargs(self, *, asset_ids=None, force=None) -> dict:
        """The ``missing_thumbnails()`` keyword arguments (ids already parsed)."""
        kwargs = {name: getattr(self, name) for name in WorkFilters.model_fields}
        kwargs["asset_ids"] = asset_ids
        kwargs["force"] = self.force if force is None else force
        return kwargs


#: The filter names, for clients that pass them on (the runner, the command).
FILTER_NAMES = tuple(WorkFilters.model_fields)

__all__ = ["FILTER_NAMES", "WorkFilters", "check_iso"]
