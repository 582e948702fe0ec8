"""Small formatting filters of the librarians' admin pages."""

from django import template

register = template.Library()


@register.filter
def thousands(value) -> str:
    """12345 → "12,345"."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def duration(seconds) -> str:
    """A window length as people say it: 60 → "minute", 3600 → "hour", 90 → "90 seconds"."""
    try:
        seconds = int(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"
