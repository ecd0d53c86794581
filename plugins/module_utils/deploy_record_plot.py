# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PNG of a deployment record: one panel per measured quantity over the watch
window, the rules' bounds as labelled dashed lines, the samples over a bound shaded,
the record's timeline as dotted vertical lines.

Drawn with matplotlib's Agg canvas on a Figure of its own (no pyplot, no global
state, no display). The panels come from ``deploy_record.fetch_plot``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import math
import traceback
from datetime import datetime, timezone

try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure
    HAS_MATPLOTLIB = True
    MATPLOTLIB_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the environment
    HAS_MATPLOTLIB = False
    MATPLOTLIB_IMPORT_ERROR = traceback.format_exc()
    FigureCanvasAgg = DateFormatter = Figure = None

# Bound lines by kind: what blocks in red, what warns in orange, what fires in purple.
BOUND_COLORS = {'gate': 'tab:red', 'expectation': 'tab:orange', 'trigger': 'tab:purple'}
SHADE_ALPHA = 0.25
# Windows up to this many seconds get HH:MM:SS ticks.
SHORT_WINDOW_S = 600
EVENT_COLOR = '0.4'
PANEL_HEIGHT = 3.2  # inches
WIDTH = 11.0  # inches
DPI = 100


def _when(ts):
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _bounds(rule):
    value = rule['value']
    return list(value) if rule['op'] == 'between' else [value]


def _bound_label(rule):
    verb = {'gate': 'required', 'expectation': 'expected', 'trigger': 'fires when'}[rule['kind']]
    value = rule['value']
    if rule['op'] == 'between':
        bound = 'between %g and %g' % (value[0], value[1])
    else:
        bound = '%s %g' % (rule['op'], value)
    label = '%s %s: %s %s' % (rule['id'], rule['kind'], verb, bound)
    if rule.get('for'):
        label += ' for %s' % rule['for']
    return label


def _shade_to(rule, values):
    """The bound each sample is over (for 'between', the edge it left)."""
    if rule['op'] != 'between':
        return [rule['value']] * len(values)
    low, high = rule['value']
    return [low if v < low else high for v in values]


def _series_label(rule, labels, several):
    text = '%s: %s' % (rule['id'], rule['name'])
    shown = ', '.join('%s=%s' % item for item in sorted(labels.items()) if item[0] != '__name__')
    if several and shown:
        text += ' {%s}' % shown
    return text


def _draw_events(ax, events, start, end, labelled):
    for ts, text in events:
        if start <= ts <= end:
            ax.axvline(_when(ts), color=EVENT_COLOR, linestyle=':', linewidth=1)
            if labelled:
                ax.annotate(text, xy=(_when(ts), 0), xycoords=('data', 'axes fraction'), xytext=(2, 3),
                            textcoords='offset points', rotation=90, ha='left', va='bottom', fontsize=7,
                            color=EVENT_COLOR)


def _draw_panel(ax, panel, start, end):
    lows, highs = [], []
    drawn = 0
    notes = []
    for entry in panel['rules']:
        rule = entry['rule']
        several = len(entry['series']) > 1
        for one in entry['series']:
            finite = [(ts, v) for ts, v in one['values'] if math.isfinite(v)]
            if not finite:
                continue
            times = [_when(ts) for ts, _v in one['values']]
            values = [v if math.isfinite(v) else float('nan') for _ts, v in one['values']]
            line, = ax.plot(times, values, linewidth=1.4, label=_series_label(rule, one['labels'], several))
            # Shaded in the colour of its line: with several series a person sees which one is over.
            ax.fill_between(times, values, _shade_to(rule, values), where=one['breached'],
                            color=line.get_color(), alpha=SHADE_ALPHA, linewidth=0, interpolate=False)
            lows.append(min(v for _ts, v in finite))
            highs.append(max(v for _ts, v in finite))
            drawn += 1
        if entry['error']:
            notes.append('%s: query failed' % rule['id'])
        elif not any(math.isfinite(v) for one in entry['series'] for _ts, v in one['values']):
            notes.append('%s: no data' % rule['id'])
        color = BOUND_COLORS[rule['kind']]
        for bound in _bounds(rule):
            ax.axhline(bound, color=color, linestyle='--', linewidth=1.2)
            ax.annotate(_bound_label(rule), xy=(1, bound), xycoords=('axes fraction', 'data'),
                        xytext=(-4, 3), textcoords='offset points', ha='right', va='bottom',
                        fontsize=8, color=color)
            lows.append(bound)
            highs.append(bound)
    low, high = min(lows + [0.0]), max(highs)
    margin = (high - low) * 0.12 or abs(high) * 0.12 or 1.0
    ax.set_ylim(low - (margin if low < 0 else 0), high + margin)
    ax.set_xlim(_when(start), _when(end))
    # Seconds on the axis of a short window (the sandbox watches a minute), else ticks repeat.
    ax.xaxis.set_major_formatter(DateFormatter('%H:%M' if end - start > SHORT_WINDOW_S else '%H:%M:%S',
                                               tz=timezone.utc))
    ax.set_title(panel['title'], loc='left', fontsize=11)
    ax.set_ylabel(panel['unit'] or '')
    ax.grid(True, alpha=0.3)
    if not drawn:
        ax.text(0.5, 0.5, 'no data', transform=ax.transAxes, ha='center', va='center',
                fontsize=20, color='0.45')
    if notes and drawn:
        ax.text(0.01, 0.97, '; '.join(notes), transform=ax.transAxes, ha='left', va='top',
                fontsize=8, color='0.35')
    if drawn:
        ax.legend(loc='upper left', fontsize=8, framealpha=0.8,
                  bbox_to_anchor=(0, 0.9) if notes else None)


def build_figure(panels, start, end, title, events=()):
    """The matplotlib Figure (not yet rendered), one panel per entry of ``panels``;
    ``events`` [(unix seconds, text)] (the record's timeline) are dotted vertical lines."""
    figure = Figure(figsize=(WIDTH, PANEL_HEIGHT * len(panels) + 0.6), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    for index, (ax, panel) in enumerate(zip(axes, panels)):
        _draw_panel(ax, panel, start, end)
        _draw_events(ax, events, start, end, labelled=index == 0)
    axes[-1].set_xlabel('time (UTC), %s to %s' % (_when(start).strftime('%Y-%m-%d %H:%M:%S'),
                                                  _when(end).strftime('%Y-%m-%d %H:%M:%S')))
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    return figure


def render_png(panels, start, end, title, events=()):
    """The PNG bytes; the same data gives the same bytes (no time stamp in the file)."""
    figure = build_figure(panels, start, end, title, events)
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', metadata={'Software': None})
    return buffer.getvalue()
