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


@register.filter
def estimated(source):
    """Whether a latency / metric source is an estimate (shown with ≈ and labelled)."""
    from engine.metrics import ESTIMATE_SOURCES

    return str(source or "") in ESTIMATE_SOURCES


@register.filter
def signed_pct(value):
    return "—" if value is None else f"{value * 100:+.1f} pp"


@register.filter
def signed_ms(value):
    return "—" if value is None else f"{value:+.3f} ms"


@register.filter
def bar_pct(value, peak):
    try:
        return max(2, min(100, round(100 * float(value or 0) / float(peak or 1))))
    except (TypeError, ValueError, ZeroDivisionError):
        return 2


@register.filter
def rel_error(value):
    return "—" if value is None else f"{value * 100:+.1f} %"
