"""The asset's upright orientation, ``presentation_params.orientingRotation``: a unit quaternion
``{x, y, z, w}`` applied to the model before framing, by the gallery viewer and every thumbnail.
The generator page's review mode saves it when the admin turns a model upright."""

import math

from django.core.exceptions import ValidationError
from django.db import transaction

from icosa.models import Asset

# A quaternion typed in by hand or rounded for JSON is never exactly of length 1.
UNIT_TOLERANCE = 1e-3


def check_quaternion(*, x: float, y: float, z: float, w: float) -> dict:
    """The quaternion as a plain dict, or ValidationError when it is not (nearly) of unit length."""
    values = {"x": x, "y": y, "z": z, "w": w}
    if not all(isinstance(value, (int, float)) and math.isfinite(value) for value in values.values()):
        raise ValidationError("orientingRotation must be four finite numbers")
    length = math.sqrt(sum(value * value for value in values.values()))
    if abs(length - 1) > UNIT_TOLERANCE:
        raise ValidationError(f"orientingRotation must be a unit quaternion (its length is {length:.4f})")
    return {key: float(value) / length for key, value in values.items()}


def save_orientation(*, asset_id: int, x: float, y: float, z: float, w: float) -> Asset:
    """Store the asset's orientingRotation; the other presentation params are kept."""
    rotation = check_quaternion(x=x, y=y, z=z, w=w)
    with transaction.atomic():
        asset = Asset.objects.select_for_update().get(pk=asset_id)
        params = dict(asset.presentation_params or {})
        params["orientingRotation"] = rotation
        asset.presentation_params = params
        asset.save(update_fields=["presentation_params"])
    return asset
