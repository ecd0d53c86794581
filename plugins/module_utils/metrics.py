# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Observing a threshold rule in Prometheus: the query (instant, or ranged over a rule's
`for` window), and the threshold engine's evaluation of every series of the answer.
Shared by the modules metrics_gate and post_deploy_watch."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import re

from ansible_collections.x402.runbook.plugins.module_utils.prometheus import series_of
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import (
    ThresholdError, evaluate, format_number, to_seconds)

# Errors after which querying again is pointless: Prometheus cannot be reached at all.
FATAL_ERRORS = ('connection', 'timeout', 'invalid_url', 'invalid_json', 'http')

# Severity of a status, to pick the worst series of a check.
SEVERITY = {'fail': 3, 'fire': 3, 'warn': 3, 'no_data': 2, 'pass': 1, 'quiet': 1}


# A range selector's duration, `[5m]` or `[1h30m]` (not a subquery's `[30m:1m]`).
RANGE_SELECTOR = re.compile(r'\[((?:[0-9]+(?:ms|[smhdwy]))+)\]')


def clamp_ranges(query, max_seconds):
    """The query with every range selector longer than max_seconds cut to it: a gate after a
    deploy measures the release since it went live, never the release before it."""
    limit = int(max_seconds)

    def cut(match):
        try:
            seconds = to_seconds(match.group(1))
        except ThresholdError:
            return match.group(0)
        return '[%ds]' % limit if seconds > limit else match.group(0)
    return RANGE_SELECTOR.sub(cut, query)


def num(value):
    """An observed number as a person reads it in a message: 10 significant digits, so
    that float noise goes (0.929999999999806 -> 0.93) and a near miss stays visible."""
    if isinstance(value, float) and math.isfinite(value):
        return format_number(float('%.10g' % value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(value)
    return str(value)


def requirement(rule):
    """'< 0.7', 'between 0.1 and 0.15', ... from a normalized rule."""
    op, value = rule.get('op'), rule.get('value')
    if op == 'between' and isinstance(value, (list, tuple)) and len(value) == 2:
        return 'between %s and %s' % (format_number(value[0]), format_number(value[1]))
    if isinstance(value, (list, tuple)):
        return '%s [%s]' % (op, ', '.join(format_number(v) for v in value))
    return '%s %s' % (op, format_number(value) if isinstance(value, (int, float)) else value)


def labels_text(labels):
    shown = dict((k, v) for k, v in labels.items() if k != '__name__')
    return '{%s}' % ', '.join('%s="%s"' % item for item in sorted(shown.items()))


def describe(result):
    """'CPU usage: observed 0.93, required < 0.7', 'disk usage: no data (fails closed)', ..."""
    rule = result.get('rule') or {}
    name = result.get('name')
    kind = result.get('kind')
    if result.get('observed') is None:
        if kind == 'gate':
            return '%s: no data (fails closed)' % name
        if result.get('status') in ('fire', 'warn'):
            return '%s: no data, which is itself the signal (no_data: breach)' % name
        if kind == 'trigger':
            return '%s: no data (the trigger cannot tell; escalate to the operator)' % name
        return '%s: no data (expectation not verified)' % name
    observed = num(result.get('observed'))
    if kind == 'trigger':
        window = ' for %s' % rule.get('for') if rule.get('for') else ''
        return '%s: observed %s, fires when %s%s' % (name, observed, requirement(rule), window)
    verb = 'required' if kind == 'gate' else 'expected'
    return '%s: observed %s, %s %s' % (name, observed, verb, requirement(rule))


class RuleObserver:
    """Evaluates rules against a Prometheus client at a given time (seconds) and step."""

    def __init__(self, client, time, step):
        self.client = client
        self.time = time
        self.step = step

    def _evaluate(self, observed, rule):
        """The engine's evaluation at the evaluation time; a sustained rule (with 'for') is
        evaluated at the query step, so that a missing point is a gap that restarts the window."""
        if rule.get('for_seconds'):
            return evaluate(observed, rule, now=self.time, step=self.step)
        return evaluate(observed, rule, now=self.time)

    def _no_data(self, rule, reason):
        result = self._evaluate(None, rule)
        result['detail'] = '%s (%s)' % (result.get('detail'), reason)
        return result

    def _evaluate_series(self, rule, series, ranged):
        """The engine's result for one series of the answer."""
        if ranged:
            samples = [(ts, v) for ts, v in series['values'] if math.isfinite(v)]
            dropped = len(series['values']) - len(samples)
            if not samples:
                return self._no_data(rule, 'every sample of the window is NaN or infinite, '
                                     'e.g. 0/0 without traffic')
            result = self._evaluate(samples, rule)
            if dropped:
                result['detail'] = '%s (%d NaN/infinite sample(s) treated as gaps)' % (result.get('detail'), dropped)
            return result
        value = series['value'][1]
        if math.isnan(value):
            return self._no_data(rule, 'the query returned NaN, e.g. 0/0 without traffic in the window')
        if math.isinf(value):
            return self._no_data(rule, 'the query returned %s, which cannot be compared (e.g. a histogram '
                                 'quantile above the highest bucket)' % value)
        return self._evaluate(value, rule)

    def run_check(self, check):
        rule = check['rule']
        ranged = bool(rule.get('for_seconds'))
        if ranged:
            data = self.client.query_range(check['query'], self.time - rule['for_seconds'] - self.step,
                                           self.time, self.step)
        else:
            data = self.client.query(check['query'], self.time)
        answer = series_of(data)
        if not answer:
            result = self._no_data(rule, 'the query returned no series')
            result['series'] = []
        else:
            evaluated = [(series['labels'], self._evaluate_series(rule, series, ranged)) for series in answer]
            labels, worst = max(evaluated, key=lambda item: SEVERITY.get(item[1].get('status'), 0))
            result = dict(worst)
            if len(evaluated) > 1:
                result['detail'] = '%s: %s (worst of %d series)' % (
                    labels_text(labels), result.get('detail'), len(evaluated))
            result['series'] = [
                {'labels': one_labels, 'observed': one.get('observed'), 'status': one.get('status'),
                 'breached': one.get('breached'), 'detail': one.get('detail')}
                for one_labels, one in evaluated]
        result['name'] = check['name']
        result['query'] = check['query']
        return result
