"""Template filters of the review pages."""

from django import template

register = template.Library()


@register.filter
def rating(value) -> str:
    """−1, 0, +1 with a real minus sign; blank for no rating."""
    if value is None or value == "":
        return "·"
    value = int(value)
    return f"{value:+d}".replace("-", "−") if value else "0"


@register.filter
def rating_class(value) -> str:
    if value is None or value == "":
        return ""
    return "r-neg" if int(value) < 0 else "r-pos" if int(value) > 0 else "r-zero"


@register.filter
def share(value) -> str:
    """A 0..1 figure as a percentage, or n/a."""
    return "n/a" if value is None else f"{100 * value:.1f} %"


@register.filter
def figure(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
