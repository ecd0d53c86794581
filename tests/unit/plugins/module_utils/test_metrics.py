# -*- coding: utf-8 -*-
"""module_utils/metrics.clamp_ranges: range selectors longer than the limit are cut to it,
the others (and subqueries, and anything that is not a duration) stay as they are."""

from __future__ import annotations

import pytest

from ansible_collections.x402.runbook.plugins.module_utils.metrics import clamp_ranges


@pytest.mark.parametrize('query, limit, expected', [
    ('rate(x[30m])', 60, 'rate(x[60s])'),
    ('rate(x[61s])', 60, 'rate(x[60s])'),       # just over the limit: cut
    ('rate(x[60s])', 60, 'rate(x[60s])'),       # at the limit: kept
    ('rate(x[1m])', 60, 'rate(x[1m])'),
    ('rate(x[5m])', 1800, 'rate(x[5m])'),
    ('increase(x[1h30m])', 3600, 'increase(x[3600s])'),
    ('rate(x[500ms])', 1, 'rate(x[500ms])'),
    ('sum(increase(e[30m])) / sum(increase(t[30m]))', 90.7, 'sum(increase(e[90s])) / sum(increase(t[90s]))'),
    ('max_over_time(rate(x[1m])[30m:1m])', 60, 'max_over_time(rate(x[1m])[30m:1m])'),  # subquery kept
    ('count(ALERTS{alertstate="firing"}) or vector(0)', 60, 'count(ALERTS{alertstate="firing"}) or vector(0)'),
])
def test_clamp_ranges(query, limit, expected):
    assert clamp_ranges(query, limit) == expected


def test_a_duration_inside_a_label_value_is_cut_too():
    """The query is not parsed: a bracketed duration in a quoted label value is cut as well.
    No query of the data file has one; this pins the limit down rather than hiding it."""
    assert clamp_ranges('up{job="a[5m]"}', 60) == 'up{job="a[60s]"}'
