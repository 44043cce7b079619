from django import template

register = template.Library()


@register.filter
def metric(value):
    """Numbers to 4 significant digits; big counts with thousands separators."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    return "—" if value is None else value


@register.filter
def get(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None
