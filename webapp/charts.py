"""Plotly figures from selector data. Data first (webapp.selectors), figure second."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from engine.metrics import METRICS, metric_info, source_label

from .selectors import ScatterData, ThinnedScatter, architecture_summary

__all__ = ["pareto_figure", "thinned_figure", "typed_array", "series_figure", "compare_figure", "axis_title",
           "breakdown_figure", "connectivity_figure", "layers_figure", "latency_pairs_figure"]

_LAYOUT = dict(paper_bgcolor="#ffffff", plot_bgcolor="#ffffff", font=dict(family="system-ui, sans-serif", size=13),
               margin=dict(l=76, r=20, t=30, b=56), height=420,
               legend=dict(orientation="h", y=-0.2), hovermode="closest")
PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"]


def axis_title(metric: str, sources: list[str] | None = None) -> str:
    info = metric_info(metric)
    title = info.label + (f" ({info.unit})" if info.unit else "")
    if sources:
        distinct = sorted({s for s in sources if s})
        if distinct:
            title += "<br><span style='font-size:11px;color:#64748b'>source: " + \
                ", ".join(source_label(s) for s in distinct) + "</span>"
    return title


def _axis(metric: str, sources: list[str] | None = None) -> dict[str, Any]:
    info = metric_info(metric)
    return dict(title=dict(text=axis_title(metric, sources)), type="log" if info.log_scale else "linear",
                zeroline=False, gridcolor="#e9eef5", linecolor="#cbd5e1")


def pareto_figure(data: ScatterData, *, webgl: bool = False) -> dict:
    """The scatter of every candidate with the front on top. Built as a plain
    dict: plotly's validation costs seconds at 100,000 points."""
    kind = "scattergl" if webgl else "scatter"
    ysrc = data.y_sources or [""] * len(data.ids)
    custom = [[i, lab, source_label(sx) if sx else "—", source_label(sy) if sy else "—"]
              for i, lab, sx, sy in zip(data.ids, data.labels, data.sources, ysrc)]
    hover = ("#%{customdata[0]}<br>%{customdata[1]}<br>" + metric_info(data.x).label
             + ": %{x:.4g} (%{customdata[2]})<br>" + metric_info(data.y).label
             + ": %{y:.4g} (%{customdata[3]})<extra></extra>")
    few = len(data.xs) <= 16  # few points: name each one on the plot
    names = [" ".join(p.split("=", 1)[-1] for p in lab.split(" ")[:2]) for lab in data.labels] if few else None
    grouped = bool(data.groups) and any(data.groups)
    if grouped:
        # one colour per group (e.g. the aggregation rule), each with its own front
        traces = []
        for gi, g in enumerate(dict.fromkeys(data.groups)):
            color = PALETTE[gi % len(PALETTE)]
            idx = [i for i, v in enumerate(data.groups) if v == g]
            traces.append(dict(type=kind, x=[data.xs[i] for i in idx], y=[data.ys[i] for i in idx],
                               mode="markers+text" if few else "markers", name=f"{g or '—'} ({len(idx)})",
                               legendgroup=g, customdata=[custom[i] for i in idx], hovertemplate=hover,
                               text=[names[i] for i in idx] if names else None, textposition="bottom right",
                               textfont=dict(size=11, color="#475569"),
                               marker=dict(size=5 if len(data.xs) > 2000 else 10, color=color, opacity=0.85)))
            gf = sorted((data.xs[i], data.ys[i]) for i in idx if data.group_front and data.group_front[i])
            if len(gf) > 1:
                traces.append(dict(type=kind, x=[t[0] for t in gf], y=[t[1] for t in gf], mode="lines",
                                   name=f"{g or '—'} front", legendgroup=g, showlegend=False, hoverinfo="skip",
                                   line=dict(shape="hv", color=color, width=2, dash="dot")))
    else:
        traces = [dict(type=kind, x=data.xs, y=data.ys, mode="markers+text" if few else "markers",
                       name=f"candidates ({len(data.xs)})", customdata=custom, hovertemplate=hover,
                       text=names, textposition="bottom right", textfont=dict(size=11, color="#475569"),
                       marker=dict(size=5 if len(data.xs) > 2000 else 9, color="#94a3b8", opacity=0.7))]
    fx = sorted(((x, y, c) for x, y, c, f in zip(data.xs, data.ys, custom, data.on_front) if f), key=lambda t: t[0])
    if fx:
        front_color = "#111827" if grouped else PALETTE[0]
        traces.append(dict(type=kind, x=[t[0] for t in fx], y=[t[1] for t in fx], mode="lines" if grouped
                           else "lines+markers", name=f"Pareto front ({len(fx)})", customdata=[t[2] for t in fx],
                           hovertemplate=hover, line=dict(shape="hv", color=front_color, width=2),
                           marker=dict(size=11, color=front_color, line=dict(width=1, color="white"))))
    layout = dict(_LAYOUT, xaxis=_axis(data.x, data.sources), yaxis=_axis(data.y, data.y_sources))
    return {"data": traces, "layout": layout}


def typed_array(values: Any, dtype: str) -> dict:
    """A numpy array as plotly.js's typed-array spec (``{"dtype", "bdata"}``: the
    bytes in base64; plotly.py's own encoder), which plotly.js reads without
    parsing a number at a time."""
    import numpy as np
    from _plotly_utils.utils import to_typed_array_spec

    arr = np.ascontiguousarray(values, dtype=dtype)
    spec = to_typed_array_spec(arr)
    return spec if isinstance(spec, dict) else arr.tolist()  # empty: a plain list


#: the most points :func:`thinned_figure` draws as SVG; more go to WebGL
SVG_LIMIT = 8000


def thinned_figure(data: ThinnedScatter) -> dict:
    """:func:`pareto_figure` for a large experiment (:func:`webapp.selectors.scatter_thinned`):
    SVG markers (WebGL beyond ``SVG_LIMIT`` points), the coordinates as binary typed arrays, one trace per group
    and source pair (the hover names the sources); a grey point stands for the
    candidates of its cell (darker: more; the hover says how many); the front
    on top with each point's architecture."""
    import numpy as np

    # SVG draws a few thousand points faster than WebGL starts (a WebGL context and its shaders cost
    # from 0.1 s on a GPU to seconds in software); beyond SVG_LIMIT WebGL is the faster
    kind = "scatter" if len(data.xs) <= SVG_LIMIT else "scattergl"
    xl, yl = metric_info(data.x).label, metric_info(data.y).label
    grouped = any(t[0] for t in data.traces)
    many = int(data.counts.max()) if len(data.counts) else 1
    traces: list[dict] = []
    for ti, (group, sx, sy) in enumerate(data.traces):
        everyone = data.trace == ti
        m = everyone & ~data.on_front  # the front's points are drawn (and hovered) by the front's trace
        if not m.any():
            continue
        hover = (f"#%{{customdata[0]}}<br>{xl}: %{{x:.4g}} ({source_label(sx) if sx else '—'})<br>"
                 f"{yl}: %{{y:.4g}} ({source_label(sy) if sy else '—'})<br>"
                 "stands for %{customdata[1]} candidate(s) here<extra></extra>")
        srcs = " · ".join(s for s in (source_label(sx) if sx else "", source_label(sy) if sy else "") if s)
        name = (f"{group or '—'} " if grouped else "candidates ") + f"({int(data.counts[everyone].sum()):,}"
        name += f"{'; ' + srcs if srcs and len(data.traces) > 1 else ''})"
        gi = list(dict.fromkeys(t[0] for t in data.traces)).index(group)
        marker: dict[str, Any] = dict(size=5, opacity=0.8)
        if grouped:
            marker["color"] = PALETTE[gi % len(PALETTE)]
        else:  # grey by how many candidates the point stands for (log scale)
            marker.update(color=typed_array(np.log10(data.counts[m]), "float64"), cmin=0,
                          cmax=max(np.log10(many), 1e-9), colorscale=[[0, "#cbd5e1"], [1, "#334155"]],
                          showscale=False)
        traces.append(dict(type=kind, mode="markers", name=name, legendgroup=group,
                           x=typed_array(data.xs[m], "float64"), y=typed_array(data.ys[m], "float64"),
                           customdata=typed_array(np.stack([data.ids[m], data.counts[m]], axis=1), "int32"),
                           hovertemplate=hover, marker=marker))
        if grouped and data.group_front is not None:
            gm = np.flatnonzero(everyone & data.group_front)
            gm = gm[np.argsort(data.xs[gm], kind="stable")]
            if len(gm) > 1:
                traces.append(dict(type=kind, mode="lines", name=f"{group or '—'} front", legendgroup=group,
                                   showlegend=False, hoverinfo="skip", x=data.xs[gm].tolist(),
                                   y=data.ys[gm].tolist(), line=dict(color=PALETTE[gi % len(PALETTE)], width=2,
                                                                     dash="dot")))
    f = np.flatnonzero(data.on_front)
    f = f[np.argsort(data.xs[f], kind="stable")]
    if len(f):
        color = "#111827" if grouped else PALETTE[0]
        src = {ti: (source_label(sx) if sx else "—", source_label(sy) if sy else "—")
               for ti, (_, sx, sy) in enumerate(data.traces)}
        custom = [[int(data.ids[i]), data.labels.get(int(data.ids[i]), ""), *src[int(data.trace[i])]] for i in f]
        hover = ("#%{customdata[0]}<br>%{customdata[1]}<br>" + xl + ": %{x:.4g} (%{customdata[2]})<br>" + yl
                 + ": %{y:.4g} (%{customdata[3]})<extra></extra>")
        traces.append(dict(type=kind, x=data.xs[f].tolist(), y=data.ys[f].tolist(),
                           mode="lines" if grouped else "lines+markers", name=f"Pareto front ({len(f)})",
                           customdata=custom, hovertemplate=hover, line=dict(shape="hv", color=color, width=2),
                           marker=dict(size=9, color=color, line=dict(width=1, color="white"))))
    xsrc = [t[1] for t in data.traces]
    ysrc = [t[2] for t in data.traces]
    layout = dict(_LAYOUT, xaxis=_axis(data.x, xsrc), yaxis=_axis(data.y, ysrc))
    return {"data": traces, "layout": layout}


def series_figure(series: dict[str, dict[str, list[float]]], names: list[str] | None = None, *,
                  title: str = "") -> dict:
    """One plot of curves named ``group/trace``. A "… vs …" group is a scatter
    of predicted against measured with the y = x line; a PSNR trace beside
    others goes on a right-hand axis; x is logarithmic when it spans decades."""
    names = names or sorted(series)
    scatter = " vs " in title
    bars = " by layer" in title  # one value per layer (AMC's kept channels): grouped bars
    xs = [x for n in names for x in series[n]["step"]]
    # strengths spanning decades (noise variance) read best on a log axis; step counts do not
    log_x = bool(xs) and min(xs) > 0 and max(xs) / min(xs) > 100 and not all(float(x).is_integer() for x in xs)
    mixed_db = any("psnr" in n.lower() for n in names) and not all("psnr" in n.lower() for n in names)
    traces = []
    for i, name in enumerate(names):
        s = series[name]
        label = name.split("/", 1)[1] if "/" in name else name
        mode = "markers" if scatter else ("lines+markers" if len(s["step"]) < 60 else "lines")
        t = dict(type="scatter", x=s["step"], y=s["value"], mode=mode, name=label,
                 line=dict(color=PALETTE[i % len(PALETTE)]), marker=dict(color=PALETTE[i % len(PALETTE)]))
        if bars:
            t = dict(type="bar", x=s["step"], y=s["value"], name=label, marker=dict(color=PALETTE[i % len(PALETTE)]))
        if mixed_db and "psnr" in name.lower():
            t.update(yaxis="y2", name=label + " (dB, right axis)", line=dict(color=PALETTE[i % len(PALETTE)], dash="dot"))
        traces.append(t)
    if scatter and xs:
        lo = min(min(xs), min(v for n in names for v in series[n]["value"]))
        hi = max(max(xs), max(v for n in names for v in series[n]["value"]))
        traces.append(dict(type="scatter", x=[lo, hi], y=[lo, hi], mode="lines", name="y = x",
                           line=dict(color="#94a3b8", dash="dash")))
    grid = "#e9eef5"
    layout = dict(_LAYOUT, height=320, **({"barmode": "group"} if bars else {}),
                  xaxis=dict(title=dict(text="measured" if scatter else ""), type="log" if log_x else "linear",
                             gridcolor=grid),
                  yaxis=dict(title=dict(text="predicted" if scatter else ""), gridcolor=grid))
    if mixed_db:
        layout["yaxis2"] = dict(overlaying="y", side="right", title=dict(text="PSNR (dB)"), showgrid=False)
        layout["margin"] = dict(_LAYOUT["margin"], r=70)
    return {"data": traces, "layout": layout}


def breakdown_figure(rows: list[tuple[str, dict]], metrics: tuple[str, ...], *, limits: list[tuple[str, float]]
                     ) -> dict:
    """One stacked bar per candidate (``rows``: label and metrics), with the
    device's memory limits as horizontal lines."""
    traces = []
    for i, m in enumerate(metrics):
        traces.append(dict(type="bar", name=metric_info(m).label if m in METRICS else m.replace("_", " "),
                           x=[label for label, _ in rows], y=[r.get(m) or 0 for _, r in rows],
                           marker=dict(color=PALETTE[i % len(PALETTE)])))
    shapes, notes = [], []
    top = max((sum((r.get(m) or 0) for m in metrics) for _, r in rows), default=0)
    kept: list[float] = []
    for text, value in sorted(limits, key=lambda t: t[1]):
        # a limit far above every bar would flatten them; two limits a few % apart are one line
        if not value or value > 4 * top or any(abs(value - k) < 0.05 * k for k in kept):
            continue
        kept.append(value)
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, y0=value, y1=value,
                           line=dict(color="#dc2626", dash="dash", width=2)))
        notes.append(dict(xref="paper", x=1, y=value, text=text, showarrow=False, xanchor="right", yanchor="bottom",
                          font=dict(color="#dc2626", size=11)))
    layout = dict(_LAYOUT, height=380, barmode="stack", shapes=shapes, annotations=notes,
                  yaxis=dict(title=dict(text="bytes"), gridcolor="#e9eef5"), xaxis=dict(type="category"))
    return {"data": traces, "layout": layout}


def compare_figure(data: dict[str, Any]) -> dict:
    fig = go.Figure()
    for i, s in enumerate(data["series"]):
        exp = s["experiment"]
        front = s["front"]
        fig.add_trace(go.Scatter(
            x=[p[0] for p in front], y=[p[1] for p in front], mode="lines+markers",
            name=f"#{exp.pk} {exp.technique} on {exp.hardware.slug} (HV {s['hypervolume']:.4g})",
            line=dict(shape="hv", color=PALETTE[i % len(PALETTE)], width=2),
            customdata=[[p[2], architecture_summary(p[3], 120)] for p in front],
            hovertemplate="#%{customdata[0]} " + metric_info(data["x"]).label + " %{x:.4g}, "
                          + metric_info(data["y"]).label + " %{y:.4g}<br>%{customdata[1]}<extra></extra>"))
    if data["reference"]:
        fig.add_trace(go.Scatter(x=[data["reference"][0]], y=[data["reference"][1]], mode="markers",
                                 name="reference point", marker=dict(symbol="x", size=12, color="#111827")))
    fig.update_layout(**_LAYOUT, xaxis=_axis(data["x"]), yaxis=_axis(data["y"]))
    return fig.to_plotly_json()


def connectivity_figure(label: str, stages: list[dict[str, Any]]) -> dict:
    """Which earlier outputs each layer of a block reads: one heatmap per stage,
    rows the layers (the last row: what the block hands on), columns the block
    input and the layer outputs."""
    n = len(stages)
    traces, layout = [], dict(_LAYOUT, height=300, margin=dict(l=60, r=20, t=40, b=50), showlegend=False)
    gap = 0.04
    width = (1 - gap * (n - 1)) / max(1, n)
    notes = []
    for i, st in enumerate(stages):
        reads = st["reads"]
        d = len(reads)
        z = [[1 if j in set(r) else 0 for j in range(d)] for r in reads]
        xs = ["in"] + [str(j) for j in range(1, d)]
        ys = [f"layer {k + 1}" for k in range(d - 1)] + ["out"]
        ax = "" if i == 0 else str(i + 1)
        traces.append(dict(type="heatmap", z=z, x=xs, y=ys, xaxis=f"x{ax}", yaxis=f"y{ax}", showscale=False,
                           colorscale=[[0, "#f1f5f9"], [1, PALETTE[i % len(PALETTE)]]], xgap=1, ygap=1,
                           hovertemplate="%{y} reads %{x}: %{z}<extra></extra>"))
        lo = i * (width + gap)
        layout[f"xaxis{ax}"] = dict(domain=[lo, lo + width], title=dict(text="reads output of"), tickfont=dict(size=9))
        layout[f"yaxis{ax}"] = dict(autorange="reversed", tickfont=dict(size=9), anchor=f"x{ax}",
                                    showticklabels=i == 0)
        notes.append(dict(xref="paper", yref="paper", x=lo + width / 2, y=1.08, showarrow=False,
                          text=f"stage {st.get('stage', i + 1)}: {st.get('rule', '')}", font=dict(size=11)))
    layout["annotations"] = notes
    layout["title"] = dict(text=label, font=dict(size=12), x=0, y=0.99)
    return {"data": traces, "layout": layout}


def layers_figure(label: str, layers: list[dict[str, Any]]) -> dict:
    """An encoder-decoder network layer by layer: one bar per layer (its FFN
    hidden dim), coloured by part, labelled with its width and heads; a
    decoder layer's label says which encoder layers it attends to."""
    xs, ys, texts, colors, hovers = [], [], [], [], []
    for r in layers:
        part = str(r.get("part", ""))
        xs.append(f"{part[:3]} {r.get('layer', '')}")
        ys.append(r.get("ffn", 0))
        att = r.get("attends_encoder_layers")
        text = f"d{r.get('dim', '')} h{r.get('heads', '')}"
        if att is not None:
            text += f" x{r.get('ende_heads', '')}<br>reads enc {','.join(map(str, att))}"
        texts.append(text)
        colors.append(PALETTE[0] if part == "encoder" else PALETTE[1])
        hovers.append(", ".join(f"{k}={v}" for k, v in r.items()))
    trace = dict(type="bar", x=xs, y=ys, text=texts, textposition="outside", marker=dict(color=colors),
                 hovertext=hovers, hoverinfo="text", cliponaxis=False)
    layout = dict(_LAYOUT, height=340, showlegend=False, title=dict(text=label, font=dict(size=12), x=0),
                  yaxis=dict(title=dict(text="FFN hidden dim"), gridcolor="#e9eef5"),
                  xaxis=dict(title=dict(text="layer (blue: encoder, red: decoder; d = width, h = heads, "
                                             "x = encoder-decoder heads)")))
    return {"data": [trace], "layout": layout}


def latency_pairs_figure(pairs: dict[str, list[Any]]) -> dict:
    """Predicted against measured latency (the diagonal is a perfect predictor)."""
    m = pairs["measured"]
    traces = [dict(type="scatter", mode="markers", name="MLP predictor", x=m, y=pairs["predicted"],
                   text=pairs["labels"], marker=dict(color=PALETTE[0], size=8))]
    if any(v is not None for v in pairs["linear"]):
        traces.append(dict(type="scatter", mode="markers", name="linear fit", x=m, y=pairs["linear"],
                           text=pairs["labels"], marker=dict(color=PALETTE[4], size=7, symbol="x")))
    vals = [v for v in (*m, *pairs["predicted"], *pairs["linear"]) if v is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    traces.append(dict(type="scatter", mode="lines", name="measured = predicted", x=[lo, hi], y=[lo, hi],
                       line=dict(color="#94a3b8", dash="dash")))
    layout = dict(_LAYOUT, xaxis=dict(title=dict(text="measured latency (ms)"), gridcolor="#e9eef5"),
                  yaxis=dict(title=dict(text="predicted latency (ms, estimate)"), gridcolor="#e9eef5"))
    return {"data": traces, "layout": layout}
