from django import template

register = template.Library()

UNITS = [("d", 86400), ("h", 3600), ("min", 60), ("s", 1)]


@register.filter
def duration(seconds) -> str:
    """Seconds as "3 d 4 h", "2 h 5 min", "7 min 30 s", "45 s": a unit and the next one down."""
    seconds = max(int(seconds or 0), 0)
    for i, (unit, size) in enumerate(UNITS):
        if seconds >= size or unit == "s":
            text = f"{seconds // size} {unit}"
            if i + 1 < len(UNITS):
                smaller, smaller_size = UNITS[i + 1]
                rest = seconds % size // smaller_size
                if rest:
                    text += f" {rest} {smaller}"
            return text
    return "0 s"


@register.filter
def percent(share) -> str:
    """A share (0..1) as "99.95 %", "100 %"; "–" for None (not in the federation then)."""
    if share is None:
        return "–"
    text = f"{share * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text} %"


@register.filter
def activity_value(value, unit: str = "count") -> str:
    if value is None:
        return "–"
    return duration(value) if unit == "duration" else str(value)
