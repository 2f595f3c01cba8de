"""Geometry of the judge-evaluation page's plots (SVG drawn by the template). Pure: no Django."""

from __future__ import annotations

# Published ProcessBench average F1 (Zheng et al. 2024, Table 3), shown as reference lines.
PUBLISHED_AVERAGE_F1 = (("o1-mini", 87.9), ("Qwen2.5-Math-PRM-7B", 73.5), ("GPT-4o", 61.9))

WIDTH, HEIGHT, PAD = 560, 260, 40
LEGEND = 150  # room on the right for the published figures' names


def f1_bars(results: dict) -> dict:
    """Bars of F1 per subset and the average (0–100), with interval whiskers and the human ceiling."""
    names = [*results.get("subsets", []), "average"]
    measures, ceiling = results.get("measures", {}), results.get("ceiling", {})
    inner_w, inner_h = WIDTH - 2 * PAD - LEGEND, HEIGHT - 2 * PAD
    slot = inner_w / max(len(names), 1)

    def y(value: float) -> float:
        return PAD + inner_h * (1 - max(0.0, min(100.0, value)) / 100)

    bars = []
    for i, name in enumerate(names):
        m = measures.get(f"f1:{name}", {})
        c = ceiling.get(f"f1:{name}", {})
        value = m.get("value")
        x = PAD + i * slot + slot * 0.2
        bars.append({
            "name": name, "value": value, "x": x, "w": slot * 0.6, "label_x": x + slot * 0.3,
            "y": y(value) if value is not None else y(0), "h": (y(0) - y(value)) if value is not None else 0,
            "low": y(m["low"]) if m.get("low") is not None else None,
            "high": y(m["high"]) if m.get("high") is not None else None,
            "ceiling": y(c["value"]) if c.get("value") is not None else None,
        })
    ticks = [{"value": v, "y": y(v)} for v in (0, 25, 50, 75, 100)]
    published = [{"name": n, "value": v, "y": y(v)} for n, v in PUBLISHED_AVERAGE_F1]
    return {"width": WIDTH, "height": HEIGHT, "pad": PAD, "right": PAD + inner_w, "legend_x": PAD + inner_w + 6,
            "bottom": HEIGHT - PAD,
            "bars": bars, "ticks": ticks, "published": published}


def reliability(calibration: dict | None) -> dict | None:
    """The reliability diagram: accuracy against confidence per bin, the diagonal, bin counts as widths."""
    if not calibration:
        return None
    size, pad = 260, 36
    inner = size - 2 * pad

    def px(v: float) -> float:
        return pad + inner * v

    def py(v: float) -> float:
        return pad + inner * (1 - v)

    total = max(sum(b["n"] for b in calibration["bins"]), 1)
    bins = [{**b, "x": px(b["low"]), "w": inner * (b["high"] - b["low"]) * 0.9, "y": py(b["accuracy"]),
             "h": py(0) - py(b["accuracy"]), "cx": px(b["confidence"]), "cy": py(b["confidence"]),
             "share": b["n"] / total} for b in calibration["bins"]]
    ticks = [{"value": v, "x": px(v), "y": py(v)} for v in (0, 0.5, 1)]
    return {"size": size, "pad": pad, "x0": px(0), "x1": px(1), "y0": py(0), "y1": py(1), "bins": bins, "ticks": ticks,
            "ece": calibration["ece"], "steps": calibration["steps"]}
