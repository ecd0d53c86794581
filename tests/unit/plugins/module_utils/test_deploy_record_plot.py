# -*- coding: utf-8 -*-
"""Unit tests of module_utils/deploy_record_plot: what the figure really holds (one panel
per quantity, the bounds as labelled dashed lines, shading only where a sample is over a
bound, "no data" where there is none) and that the PNG is a real, reproducible image."""

from __future__ import annotations

import io

import pytest

from ansible_collections.x402.runbook.plugins.module_utils import deploy_record as dr
from ansible_collections.x402.runbook.plugins.module_utils import deploy_record_plot as plotting

pytest.importorskip('matplotlib')
from matplotlib.collections import PolyCollection  # noqa: E402  pylint: disable=wrong-import-position
from PIL import Image  # noqa: E402  pylint: disable=wrong-import-position

T0 = 1_795_824_000
ERRORS = 'post_deployment.immediate_monitoring.1'
P95 = 'post_deployment.immediate_monitoring.2'
ROLLBACK_ERRORS = 'rollback_criteria.1'
ROLLBACK_P95 = 'rollback_criteria.2'
CACHE = 'post_deployment.performance_validation.3'


class Answers:
    """A client answering each query with fixed samples (no HTTP: the drawing is under test)."""

    def __init__(self, by_query):
        self.by_query = by_query

    def query_range(self, query, start, end, step):
        values = self.by_query.get(query)
        result = [] if values is None else [{'metric': {}, 'values': [[t, str(v)] for t, v in values]}]
        return {'resultType': 'matrix', 'result': result}


def panels_of(rules, series, by_id):
    rules = dict(rules)
    if CACHE in series:  # the data file has no query for it: give it one to draw
        rules[CACHE] = dict(rules[CACHE], query='cache_hit_ratio')
    spec = dr.plot_spec({'prometheus_url': 'http://127.0.0.1:9', 'series': series, 'rules': rules}, T0, T0 + 600)
    client = Answers(dict((rules[rule_id]['query'].strip(), values) for rule_id, values in by_id.items()))
    return dr.fetch_plot(client, spec)


def dashed(ax):
    return sorted((line.get_ydata()[0], line.get_color()) for line in ax.get_lines() if line.get_linestyle() == '--')


def texts(ax):
    return [t.get_text() for t in ax.texts]


def shaded(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection) and len(c.get_paths())]


def test_panels_bounds_labels_and_shading(rules):
    healthy = [(T0 + 15 * i, 0.01) for i in range(41)]
    spike = [(T0 + 15 * i, 0.3 if 10 <= i < 20 else 0.01) for i in range(41)]
    panels = panels_of(rules, [ERRORS, P95, ROLLBACK_ERRORS, ROLLBACK_P95], {ERRORS: healthy, ROLLBACK_ERRORS: spike})
    figure = plotting.build_figure(panels, T0, T0 + 600, 'Deployment 1.2.0: GO')
    errors_ax, p95_ax = figure.axes
    assert errors_ax.get_title(loc='left') == 'error rate' and p95_ax.get_title(loc='left') == 'latency P95'
    assert errors_ax.get_ylabel() == 'ratio' and p95_ax.get_ylabel() == 'ms'
    # Every bound is a dashed line, coloured by kind, and labelled with its rule.
    assert dashed(errors_ax) == [(0.05, 'tab:red'), (0.2, 'tab:purple')]
    assert dashed(p95_ax) == [(500, 'tab:red'), (5000, 'tab:purple')]
    assert texts(errors_ax) == ['%s gate: required < 0.05' % ERRORS, '%s trigger: fires when > 0.2 for 5m' % ROLLBACK_ERRORS]
    # Two data lines; only the spike is over a bound (both bounds: the gate's and the trigger's).
    labels = [line.get_label() for line in errors_ax.get_lines() if line.get_linestyle() == '-']
    assert labels == ['%s: error rate (first 30 min)' % ERRORS, '%s: error rate' % ROLLBACK_ERRORS]
    assert len(shaded(errors_ax)) == 1
    assert figure.get_suptitle() == 'Deployment 1.2.0: GO'
    # No histogram in the data: the P95 panel says so instead of failing.
    assert 'no data' in texts(p95_ax) and not shaded(p95_ax)
    low, high = p95_ax.get_ylim()
    assert low == 0 and high > 5000  # both bounds visible


def test_a_sample_exactly_at_a_strict_bound_is_shaded_just_below_is_not(rules):
    at_bound = [(T0, 0.01), (T0 + 15, 0.05), (T0 + 30, 0.01)]
    below = [(T0, 0.01), (T0 + 15, 0.0499), (T0 + 30, 0.01)]
    for values, expected in ((at_bound, 1), (below, 0)):
        figure = plotting.build_figure(panels_of(rules, [ERRORS], {ERRORS: values}), T0, T0 + 600, 't')
        assert len(shaded(figure.axes[0])) == expected


def test_between_draws_both_edges(rules):
    values = [(T0, 0.12), (T0 + 15, 0.2), (T0 + 30, 0.05)]
    figure = plotting.build_figure(panels_of(rules, [CACHE], {CACHE: values}), T0, T0 + 600, 't')
    ax = figure.axes[0]
    assert dashed(ax) == [(0.1, 'tab:orange'), (0.15, 'tab:orange')]
    assert texts(ax) == ['%s expectation: expected between 0.1 and 0.15' % CACHE] * 2
    assert len(shaded(ax)) == 1


def test_one_rule_without_data_is_noted_beside_the_others(rules):
    panels = panels_of(rules, [ERRORS, ROLLBACK_ERRORS], {ROLLBACK_ERRORS: [(T0, 0.01), (T0 + 15, 0.02)]})
    ax = plotting.build_figure(panels, T0, T0 + 600, 't').axes[0]
    assert '%s: no data' % ERRORS in texts(ax) and 'no data' not in texts(ax)


def test_png_is_a_real_image_and_reproducible(rules):
    panels = panels_of(rules, [ERRORS, P95], {ERRORS: [(T0 + 15 * i, 0.01 * i) for i in range(20)]})
    png = plotting.render_png(panels, T0, T0 + 600, 'Deployment 1.2.0: GO')
    assert png.startswith(b'\x89PNG\r\n\x1a\n')
    image = Image.open(io.BytesIO(png))
    assert image.format == 'PNG'
    assert image.size == (plotting.WIDTH * plotting.DPI, (plotting.PANEL_HEIGHT * 2 + 0.6) * plotting.DPI)
    assert plotting.render_png(panels, T0, T0 + 600, 'Deployment 1.2.0: GO') == png
    assert plotting.render_png(panels, T0, T0 + 600, 'Deployment 1.2.1: GO') != png


def test_timeline_events_in_the_window_are_dotted_lines_labelled_once(rules):
    panels = panels_of(rules, [ERRORS, P95], {ERRORS: [(T0, 0.01), (T0 + 15, 0.02)]})
    events = [(T0 + 60, 'rollback triggered'), (T0 + 601, 'after the window'), (T0 - 1, 'before it')]
    first, second = plotting.build_figure(panels, T0, T0 + 600, 't', events).axes
    for ax in (first, second):
        dotted = [line for line in ax.get_lines() if line.get_linestyle() == ':']
        assert len(dotted) == 1
    assert 'rollback triggered' in texts(first) and 'rollback triggered' not in texts(second)
    assert 'after the window' not in texts(first) and 'before it' not in texts(first)


@pytest.mark.parametrize('seconds, shown', [(600, '00:05:00'), (601, '00:05')])
def test_ticks_show_seconds_up_to_a_ten_minute_window(rules, seconds, shown):
    panels = panels_of(rules, [ERRORS], {ERRORS: [(T0, 0.01)]})
    ax = plotting.build_figure(panels, T0, T0 + seconds, 't').axes[0]
    # T0 is 2026-11-28 00:00:00 UTC; 300 s later, in the axis' own date units.
    from matplotlib.dates import date2num  # pylint: disable=import-outside-toplevel
    assert ax.xaxis.get_major_formatter()(date2num(plotting._when(T0 + 300))) == shown  # pylint: disable=protected-access
