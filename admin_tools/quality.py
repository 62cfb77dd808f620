"""The quality record a page sends with an upload (``render_settings.quality``), checked.

The page measures the subject (``static/batch_thumbs/capture.js``: ``qualityRecord``) and
flags doubtful captures; the server stores the numbers on the version and lets the flags
decide ``needs_review``. Anything outside the record's shape is refused (422), so a typo in a
flag never silently clears a review.
"""

import math
from dataclasses import dataclass, field

#: The flags a capture may carry; any flag means a person should look at it.
QUALITY_FLAGS = ("dark_subject", "low_contrast", "tiny_subject", "clipped")
#: The measured numbers, each a share between 0 and 1.
QUALITY_NUMBERS = ("coverage", "margin", "luminance", "contrast")


@dataclass(frozen=True)
class Quality:
    coverage: float | None = None
    margin: float | None = None
    luminance: float | None = None
    contrast: float | None = None
    flags: list = field(default_factory=list)

    @property
    def needs_review(self) -> bool:
        return bool(self.flags)

    def model_fields(self) -> dict:
        """The ThumbnailVersion fields this record fills."""
        return {
            **{name: getattr(self, name) for name in QUALITY_NUMBERS},
            "quality_flags": list(self.flags),
            "needs_review": self.needs_review,
        }


def parse_quality(value) -> Quality:
    """A checked ``Quality`` from the upload's record (``None``: no record, nothing flagged).

    A bare number is what pages before the quality record sent under the same key (the JPEG
    quality, 0.85): no record either. Raises ``ValueError`` naming the first problem.
    """
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return Quality()
    if not isinstance(value, dict):
        raise ValueError("quality: expected an object")
    unknown = sorted(set(value) - set(QUALITY_NUMBERS) - {"flags"})
    if unknown:
        raise ValueError(f"quality: unknown keys {', '.join(unknown)}")
    numbers = {}
    for name in QUALITY_NUMBERS:
        number = value.get(name)
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise ValueError(f"quality.{name}: expected a number between 0 and 1")
        if not 0 <= number <= 1:
            raise ValueError(f"quality.{name}: {number} is not between 0 and 1")
        numbers[name] = float(number)
    flags = value.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(flag, str) for flag in flags):
        raise ValueError("quality.flags: expected a list of strings")
    unknown = [flag for flag in flags if flag not in QUALITY_FLAGS]
    if unknown:
        raise ValueError(f"quality.flags: '{unknown[0][:64]}' is not a quality flag ({', '.join(QUALITY_FLAGS)})")
    return Quality(**numbers, flags=list(dict.fromkeys(flags)))
