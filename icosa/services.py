"""Gallery rules that follow from data changing, kept out of ``Model.save()``."""

from django.db.models.signals import post_delete, post_save

from .formats import DRAWABLE_TYPES
from .models import Asset, Format


def refresh_viewer_compatible(asset) -> bool:
    """Re-derive ``asset.is_viewer_compatible`` from its formats; one UPDATE when it changed.

    ``asset`` is an Asset or its id. Returns the new value.
    """
    asset_id = asset.pk if isinstance(asset, Asset) else asset
    value = Format.objects.filter(asset_id=asset_id, format_type__in=DRAWABLE_TYPES).exists()
    Asset.objects.filter(pk=asset_id).exclude(is_viewer_compatible=value).update(is_viewer_compatible=value)
    if isinstance(asset, Asset):
        asset.is_viewer_compatible = value
    return value


def _format_changed(sender, instance, **kwargs):
    if kwargs.get("raw"):
        return  # loaddata: fixtures carry the flag themselves
    refresh_viewer_compatible(instance.asset_id)


def connect() -> None:
    """Recompute compatibility whenever a format is saved or deleted, wherever that happens
    (importer, admin inline, a shell): the formats are the only input. Called once from
    IcosaConfig.ready()."""
    post_save.connect(_format_changed, sender=Format, dispatch_uid="icosa-format-saved")
    post_delete.connect(_format_changed, sender=Format, dispatch_uid="icosa-format-deleted")


__all__ = ["connect", "refresh_viewer_compatible"]
