"""A `Timeline` as one self-contained HTML page: inline CSS, inline SVG, a few lines of inline JS.

Choices, and why:

- **Nothing from outside.** No CDN, no web font, no image: the page is opened from a CI artifact
  or a temp folder, often offline, and must look the same in ten years.
- **An axis of instants.** On virtual time many things happen at the same instant (a burst of
  chunks, the events they cause, the frames those become) and long waits separate the bursts (a
  20 s tool, a 300 s stall). A linear axis draws the bursts as one pixel and the waits as the
  whole page. So each distinct instant gets a burst as wide as its busiest row needs (items in
  the order they happened), and the gap between instants grows with the logarithm of the time
  between them; every instant is labelled with its time and every wide gap with its length.
  The order is exact and the times are written, the widths only suggest how long a wait was.
- **Escaping.** Every text from the run (chunk text, tool output, error messages) goes through
  `html.escape` in the SVG, and the payloads travel as JSON in a ``<script type=
  "application/json">`` block with ``<``, ``>``, ``&`` and U+2028/9 written as ``\\u`` escapes, so
  a chunk reading ``</script>`` stays data. The JS only ever sets ``textContent``.
- **Deterministic bytes.** Ids come from positions in the run, the order from the model, the
  numbers are formatted with fixed rules: the same run gives the same page.
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from typing import Any

from agentsim.report._model import Item, Timeline

__all__ = ["render_html"]

STEP = 9.0  # px between two items of a row at one instant
PAD = 24.0
LABELS = 250.0
AXIS = 40.0
HEIGHTS = {"provider": 22.0, "tools": 22.0, "events": 28.0, "sse": 24.0}
GROUP_GAP = 14.0
PIN_STRIP = 40.0  # under the axis: the violation pins, on two levels so close ones do not collide
GROUP_TITLES = {
    "provider": "provider streams",
    "tools": "tools",
    "events": "agent loop",
    "sse": "to the browser",
}


def _gap(dt: float) -> float:
    return 30.0 + 78.0 * math.log2(1.0 + max(dt, 0.0) / 0.2)


def _key(t: float) -> float:
    return round(t, 9)


def _f(x: float) -> str:
    return f"{x:.1f}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats as strings, tuples as lists, keys as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _script_json(value: Any) -> str:
    # the model's own (deterministic) order: an event's fields read as the event does
    text = json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


class _Axis:
    """Where each instant (and each item) goes on the x axis."""

    def __init__(self, timeline: Timeline) -> None:
        counts: dict[tuple[str, float], int] = defaultdict(int)
        self.slot: dict[str, int] = {}
        instants = {0.0, _key(timeline.end)}
        for item in timeline.items:
            k = _key(item.t)
            instants.add(k)
            if item.end is None:
                self.slot[item.id] = counts[item.row, k]
                counts[item.row, k] += 1
            else:
                instants.add(_key(item.end))
        instants.update(_key(m.t) for m in timeline.markers)
        instants.update(_key(p.t) for p in timeline.pins)
        width: dict[float, int] = defaultdict(lambda: 1)
        for (_row, k), n in counts.items():
            width[k] = max(width[k], n)
        self.instants = sorted(instants)
        self.start: dict[float, float] = {}
        self.stop: dict[float, float] = {}
        x = PAD
        for i, k in enumerate(self.instants):
            if i:
                x += _gap(k - self.instants[i - 1])
            self.start[k] = x
            x += (width[k] - 1) * STEP
            self.stop[k] = x
        self.width = x + PAD + 160.0

    def at(self, t: float) -> float:
        return self.start[_key(t)]

    def after(self, t: float) -> float:
        return self.stop[_key(t)]

    def item(self, item: Item) -> float:
        return self.at(item.t) + self.slot.get(item.id, 0) * STEP


def _layout(timeline: Timeline) -> tuple[dict[str, float], list[tuple[str, float]], float]:
    """The y of each row's middle, where each group's title goes, and the total height."""
    y = AXIS + (PIN_STRIP if timeline.pins else 0.0) + 8.0
    middle: dict[str, float] = {}
    groups: list[tuple[str, float]] = []
    group = None
    for row in timeline.rows:
        if row.group != group:
            if group is not None:
                y += GROUP_GAP
            groups.append((row.group, y))
            y += 16.0
            group = row.group
        h = HEIGHTS[row.group]
        middle[row.key] = y + h / 2
        y += h
    return middle, groups, y + 30.0


def _item_svg(item: Item, axis: _Axis, y: float, end_x: float, refs: dict[str, Item]) -> str:
    title = f"<title>{_e(item.label)}</title>"
    cls = f"item {item.kind}" + (" open" if item.open else "")
    ident = f'data-id="{item.id}"'
    if item.end is None:
        x = axis.item(item)
        h = 16.0 if item.row == "events" else 12.0
        return (
            f'<rect class="{_e(cls)}" {ident} x="{_f(x - 3)}" y="{_f(y - h / 2)}" width="6" '
            f'height="{_f(h)}" rx="1.5">{title}</rect>'
        )
    x0 = axis.item(refs[item.start_ref]) - 3 if item.start_ref in refs else axis.at(item.t)
    if item.open:
        x1 = end_x
    elif item.end_ref in refs:
        x1 = axis.item(refs[item.end_ref]) + 3
    else:
        x1 = axis.after(item.end)
    x1 = max(x1, x0 + 3.0)
    top, h = y - 6.0, 12.0
    if item.kind == "step":
        top, h = y - 10.0, 20.0
    elif item.row == "steps":  # a phase: a strip along the bottom of its step
        top, h = y + 2.0, 6.0
    out = (
        f'<rect class="{_e(cls)}" {ident} x="{_f(x0)}" y="{_f(top)}" '
        f'width="{_f(x1 - x0)}" height="{_f(h)}" rx="2">{title}</rect>'
    )
    text = ""
    if item.kind == "step":
        text = item.label.split(":")[0]

    elif item.row.startswith("tool") or item.kind == "backoff":
        text = item.label.split(":")[0].removeprefix("tool ")
        if item.kind == "backoff":
            text = "backoff " + item.label.split(" after ")[1].split(" ")[0]
    if text and x1 - x0 > 8 * len(text):
        base = y - 1 if item.kind == "step" else y + 4
        out += f'<text class="bar-label" x="{_f(x0 + 5)}" y="{_f(base)}">{_e(text)}</text>'
    if item.open:
        out += f'<text class="open-label" x="{_f(x1 + 4)}" y="{_f(y + 4)}">never ended</text>'
    return out


_CSS = """
:root{--ink:#1d2430;--muted:#6b7280;--line:#e5e7eb;--bg:#fbfbfd;--bad:#d1242f;--warn:#d97706}
*{box-sizing:border-box}
body{margin:0;font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg)}
header{padding:14px 20px 8px;border-bottom:1px solid var(--line);background:#fff}
h1{font-size:17px;margin:0 0 4px}
.verdict{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;margin-right:8px;
font-size:12px}
.verdict.PASS{background:#dcfce7;color:#166534}.verdict.FAIL{background:#fee2e2;color:#991b1b}
.summary{margin:2px 0;color:var(--ink)}.notes{color:var(--muted);margin:2px 0}
.chart{display:flex;border-bottom:1px solid var(--line);background:#fff}
.labels{flex:none}.scroll{overflow-x:auto;flex:1}
.group-title{font-size:11px;font-weight:700;fill:var(--muted);text-transform:uppercase;
letter-spacing:.06em}
.row-title{font-size:12px;fill:var(--ink)}.row-note{font-size:10px;fill:var(--muted)}
.row-bg{fill:#f8fafc}.row-bg.alt{fill:#fff}
.tick-line{stroke:#eef0f3}.tick-label{font-size:10px;fill:var(--muted)}
.gap-label{font-size:10px;fill:#9ca3af;font-style:italic}
.axis-line{stroke:#9ca3af}
.item{cursor:pointer;stroke:none}.item:hover,.item.selected{stroke:#111;stroke-width:1.5}
.stream{fill:#dbeafe}.stream-failed{fill:#fecaca}.open{fill-opacity:.55;stroke-dasharray:3 2}
.ch-text{fill:#16a34a}.ch-reasoning{fill:#7c3aed}.ch-tool_call_start,.ch-tool_call_args,
.ch-tool_call_end{fill:#ea580c}.ch-usage{fill:#94a3b8}.ch-finish{fill:#334155}.ch-error{fill:#d1242f}
.tool{fill:#fdba74}.tool-raised{fill:#fca5a5}.tool-cancelled{fill:#fcd34d}.tool-open{fill:#fde68a}
.backoff{fill:#fee2e2;stroke:#f87171;stroke-dasharray:4 2}
.step{fill:#eef2ff;stroke:#818cf8}.phase-think{fill:#c4b5fd}.phase-answer{fill:#86efac}
.phase-act{fill:#fdba74}.phase-summarize{fill:#93c5fd}
.bar-label{font-size:10px;fill:#1f2937;pointer-events:none}
.open-label{font-size:10px;fill:var(--warn);font-style:italic}
.ev-run_started,.ev-step_started,.ev-step_finished,.ev-phase_changed{fill:#64748b}
.ev-thinking_delta{fill:#7c3aed}.ev-text_delta{fill:#16a34a}
.ev-tool_call_started,.ev-tool_call_delta,.ev-tool_call_completed,.ev-tool_executed{fill:#ea580c}
.ev-retry_scheduled{fill:#dc2626}.ev-run_completed{fill:#15803d}.ev-run_failed{fill:#b91c1c}
.ev-run_cancelled{fill:#d97706}
.frame{fill:#0ea5e9}
.marker line{stroke-width:2}.marker text{font-size:11px;font-weight:600}
.marker-deadline line{stroke:var(--bad);stroke-dasharray:6 3}.marker-deadline text{fill:var(--bad)}
.marker-idle line{stroke:#9333ea;stroke-dasharray:2 3}.marker-idle text{fill:#9333ea}
.marker-cancel line{stroke:var(--warn)}.marker-cancel text{fill:var(--warn)}
.marker-drop line{stroke:#475569;stroke-dasharray:2 2}.marker-drop text{fill:#475569}
.violation{cursor:pointer}.violation line{stroke:var(--bad);stroke-width:1.5;stroke-dasharray:2 2}
.violation circle{fill:var(--bad);stroke:#fff;stroke-width:1.5}
.pin-ring{fill:none;stroke:var(--bad);stroke-width:2}
.violation text{fill:#fff;font-size:10px;font-weight:700}
.violation .pin-id{fill:var(--bad);font-size:11px}
.panels{display:grid;grid-template-columns:minmax(300px,1fr) minmax(300px,1fr);gap:16px;
padding:14px 20px}
.panel h2{font-size:13px;margin:0 0 6px}
.panel ul{margin:0;padding-left:18px}.panel li{margin:3px 0;cursor:pointer}
.panel li b{color:var(--bad)}
pre#detail{background:#0f172a;color:#e2e8f0;padding:10px;border-radius:6px;white-space:pre-wrap;
word-break:break-word;min-height:80px;max-height:420px;overflow:auto;margin:0;font-size:12px}
#tip{position:fixed;pointer-events:none;background:#111827;color:#f9fafb;padding:4px 7px;
border-radius:4px;font-size:11px;max-width:520px;display:none;white-space:pre-wrap;z-index:9}
.legend{color:var(--muted);font-size:11px;margin-top:8px}
.legend div{margin:2px 0}.legend b{font-weight:600;margin-right:2px}
.legend span{white-space:nowrap;margin-left:10px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:3px;
vertical-align:-1px}
"""

_JS = """
(function(){
  var data = JSON.parse(document.getElementById('payloads').textContent);
  var detail = document.getElementById('detail'), tip = document.getElementById('tip');
  function show(id){
    var d = data[id]; if (!d) return;
    detail.textContent = d.label + '\\n\\n' + JSON.stringify(d.detail, null, 2);
    document.querySelectorAll('.selected').forEach(function(e){ e.classList.remove('selected'); });
    document.querySelectorAll('[data-id="' + id + '"]').forEach(function(e){
      e.classList.add('selected');
      if (e.closest('.scroll')) e.scrollIntoView({block: 'nearest', inline: 'center'});
    });
  }
  document.addEventListener('click', function(ev){
    var el = ev.target.closest('[data-id],[data-target]'); if (!el) return;
    show(el.getAttribute('data-id') || el.getAttribute('data-target'));
  });
  document.addEventListener('mousemove', function(ev){
    var el = ev.target.closest('[data-id]');
    if (!el || !data[el.getAttribute('data-id')]) { tip.style.display = 'none'; return; }
    tip.textContent = data[el.getAttribute('data-id')].label;
    tip.style.display = 'block';
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 540) + 'px';
    tip.style.top = (ev.clientY + 14) + 'px';
  });
})();
"""


def _chart(timeline: Timeline) -> tuple[str, str]:
    axis = _Axis(timeline)
    middle, groups, height = _layout(timeline)
    end_x = axis.after(timeline.end) + 6.0
    width = axis.width
    left: list[str] = [
        f'<svg class="labels" width="{_f(LABELS)}" height="{_f(height)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    right: list[str] = [
        f'<svg id="timeline" width="{_f(width)}" height="{_f(height)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for group, y in groups:
        left.append(
            f'<text class="group-title" x="10" y="{_f(y + 11)}">{_e(GROUP_TITLES[group])}</text>'
        )
    for n, row in enumerate(timeline.rows):
        h = HEIGHTS[row.group]
        y = middle[row.key]
        alt = " alt" if n % 2 else ""
        for side, w in ((left, LABELS), (right, width)):
            side.append(
                f'<rect class="row-bg{alt}" x="0" y="{_f(y - h / 2)}" width="{_f(w)}" '
                f'height="{_f(h)}"/>'
            )
        title = row.title if len(row.title) <= 30 else row.title[:29] + "…"
        left.append(f'<text class="row-title" x="14" y="{_f(y + 4)}">{_e(title)}</text>')
        if row.note and row.group in ("provider", "tools"):
            note = row.note if len(row.note) <= 16 else row.note[:15] + "…"
            left.append(
                f'<text class="row-note" x="{_f(LABELS - 8)}" y="{_f(y + 4)}" '
                f'text-anchor="end">{_e(note)}</text>'
            )
    # the axis: a line per instant, labels where they fit, and the length of each wide gap
    right.append(
        f'<line class="axis-line" x1="0" x2="{_f(width)}" y1="{_f(AXIS)}" y2="{_f(AXIS)}"/>'
    )
    last_label = -1e9
    previous: float | None = None
    for k in axis.instants:
        x = axis.at(k)
        right.append(
            f'<line class="tick-line" x1="{_f(x)}" x2="{_f(x)}" y1="{_f(AXIS)}" '
            f'y2="{_f(height - 24)}"/>'
        )
        if x - last_label >= 44:
            right.append(
                f'<text class="tick-label" x="{_f(x)}" y="{_f(AXIS - 6)}" '
                f'text-anchor="middle">{k:g}s</text>'
            )
            last_label = x
        if previous is not None:
            x0 = axis.after(previous)
            if x - x0 > 110:
                right.append(
                    f'<text class="gap-label" x="{_f((x0 + x) / 2)}" y="{_f(AXIS - 20)}" '
                    f'text-anchor="middle">+{k - previous:.6g}s</text>'
                )
        previous = k
    rows = timeline.rows_by_key
    by_id = {item.id: item for item in timeline.items}
    # step bars first, so the phases inside them stay visible
    ordered = sorted(timeline.items, key=lambda item: item.kind != "step")
    for item in ordered:
        if item.row in rows:
            right.append(_item_svg(item, axis, middle[item.row], end_x, by_id))
    for n, marker in enumerate(timeline.markers):
        x = axis.at(marker.t) - STEP / 2
        y_text = height - 10 - 12 * (n % 2)
        right.append(
            f'<g class="marker marker-{marker.kind}"><title>{_e(marker.label)}</title>'
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(AXIS - 2)}" y2="{_f(height - 26)}"/>'
            f'<text x="{_f(x + 3)}" y="{_f(y_text)}">{_e(marker.label)}</text></g>'
        )
    # one pin per pinned item (its checks listed), in the strip under the axis, a line down to it
    groups_at: dict[str | None, list[str]] = {}
    texts: dict[str | None, list[str]] = {}
    for pin in timeline.pins:
        key = pin.item if pin.item in by_id else None
        groups_at.setdefault(key, [])
        if pin.check not in groups_at[key]:
            groups_at[key].append(pin.check)
        texts.setdefault(key, []).append(f"{pin.check}: {pin.message}")
    # a violation of the whole run (no terminal event, a history mismatch) stands just after the
    # last event: where the run stopped saying anything
    events = [item for item in timeline.items if item.row == "events"]
    whole = axis.item(events[-1]) + 2 * STEP if events else end_x

    def x_of(key: str | None) -> float:
        return axis.item(by_id[key]) if key is not None else whole

    placed = sorted(groups_at, key=lambda k: (x_of(k), k or ""))
    last_x, level = -1e9, 0
    for key in placed:
        target = by_id[key] if key is not None else None
        x = x_of(key)
        level = 1 - level if x - last_x < 70 else 0
        last_x = x
        y = AXIS + 13 + 15 * level
        checks = ", ".join(groups_at[key])
        ident = f' data-target="{target.id}"' if target is not None else ""
        bottom = middle[target.row] - 9 if target is not None else height - 26
        ring = ""
        if target is not None:
            ty = middle[target.row]
            ring = (
                f'<rect class="pin-ring" x="{_f(x - 6)}" y="{_f(ty - 11)}" width="12" '
                f'height="22" rx="3"/>'
            )
        right.append(
            f'<g class="violation" data-check="{_e(checks)}"{ident}>'
            f"<title>{_e(chr(10).join(texts[key]))}</title>"
            f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(y + 7)}" y2="{_f(bottom)}"/>{ring}'
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="7"/>'
            f'<text x="{_f(x)}" y="{_f(y + 3.5)}" text-anchor="middle">!</text>'
            f'<text class="pin-id" x="{_f(x + 10)}" y="{_f(y + 4)}">{_e(checks)}</text></g>'
        )
    left.append("</svg>")
    right.append("</svg>")
    return "".join(left), "".join(right)


_LEGEND = (
    ("chunks and events", (("#16a34a", "text"), ("#7c3aed", "reasoning"), ("#ea580c", "tool call"),
                           ("#94a3b8", "usage"), ("#334155", "finish"), ("#d1242f", "error"))),
    ("bars", (("#dbeafe", "stream open"), ("#fdba74", "tool running"),
              ("#fcd34d", "tool cancelled"), ("#fee2e2", "backoff"))),
    ("phases", (("#c4b5fd", "think"), ("#86efac", "answer"), ("#fdba74", "act"),
                ("#93c5fd", "summarize"))),
)  # fmt: skip


def _legend() -> str:
    parts = []
    for title, entries in _LEGEND:
        keys = "".join(
            f'<span><i style="background:{color}"></i>{_e(name)}</span>' for color, name in entries
        )
        parts.append(f"<div><b>{_e(title)}:</b>{keys}</div>")
    return (
        '<div class="legend">' + "".join(parts) + "<div>The axis spreads the items of each "
        "instant in the order they happened; the gaps between instants grow with the log of "
        "their length, which is written above them. Hover an item for its summary, click it "
        "for its payload.</div></div>"
    )


def render_html(timeline: Timeline) -> str:
    """The page of `timeline` (a str; write it with the callers' atomic writer)."""
    left, right = _chart(timeline)
    payloads = {item.id: {"label": item.label, "detail": item.detail} for item in timeline.items}
    by_id = {item.id: item for item in timeline.items}
    summary = "".join(f'<p class="summary">{_e(line)}</p>' for line in timeline.summary)
    notes = " · ".join(timeline.notes)
    pins = []
    for pin in timeline.pins:
        target = by_id.get(pin.item) if pin.item is not None else None
        where = " (the whole run)"
        if target is not None:
            unit = "SSE event" if target.row == "sse" else "event"
            where = f" at {unit} {target.id[1:]} ({target.label.split(' @ ')[0].split(':')[0]})"
        attr = f' data-target="{target.id}"' if target is not None else ""
        pins.append(
            f'<li class="violation-item"{attr}><b>{_e(pin.check)}</b>{_e(where)}: '
            f"{_e(pin.message)}</li>"
        )
    violations = "".join(pins) or "<li>none: every check holds</li>"
    legend = _legend()
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(timeline.title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1><span class="verdict {timeline.verdict}">{timeline.verdict}</span>'
        f"{_e(timeline.title)}</h1>{summary}"
        f'<p class="notes">{_e(notes)}</p></header>'
        f'<div class="chart">{left}<div class="scroll">{right}</div></div>'
        f'<div class="panels"><div class="panel"><h2>Violations ({len(timeline.pins)})</h2>'
        f'<ul id="violations">{violations}</ul>{legend}</div>'
        f'<div class="panel"><h2>Details</h2><pre id="detail">Click an item on the timeline.'
        "</pre></div></div>"
        '<div id="tip"></div>'
        f'<script type="application/json" id="payloads">{_script_json(payloads)}</script>'
        f"<script>{_JS}</script></body></html>\n"
    )
