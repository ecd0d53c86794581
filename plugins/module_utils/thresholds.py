# -*- coding: utf-8 -*-
# Copyright (c) x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The threshold engine of x402.runbook: THE one place where an observation is
compared with a rule of the checklist (see THRESHOLDS.md).

Pure standard-library Python so that filters (controller), modules (targets) and
tests share it. Every problem with a rule or an observation raises
ThresholdError whose message names the field, the value and the rule id.
"""

from __future__ import absolute_import, division, print_function

import copy
import datetime
import decimal
import difflib
import math
import re

from collections.abc import Mapping

string_types = (str,)

__all__ = [
    'ThresholdError', 'KINDS', 'OPS', 'AGGREGATES', 'STATUSES',
    'to_seconds', 'format_duration', 'format_number', 'validate_rule',
    'normalize_observed', 'holds', 'sustained', 'evaluate', 'decide',
    'merge_rules', 'alert_name', 'alert_rules', 'promql_condition',
]

KINDS = ('gate', 'expectation', 'trigger')
OPS = ('<', '<=', '>', '>=', '==', 'between', 'subset')
AGGREGATES = ('mean', 'last', 'max', 'min')
NO_DATA_MODES = ('breach',)
# The statuses each kind of rule can report.
STATUSES = {
    'gate': ('pass', 'fail', 'no_data'),
    'expectation': ('pass', 'warn', 'no_data'),
    'trigger': ('quiet', 'fire', 'no_data'),
}
RULE_FIELDS = ('id', 'name', 'kind', 'op', 'value', 'for', 'for_seconds', 'no_data',
               'unit', 'action', 'query', 'aggregate', 'description')
GAP_FACTOR = 1.5  # two samples further apart than GAP_FACTOR x step are a gap

_NUMERIC_OPS = ('<', '<=', '>', '>=', '==')
_DURATION_UNITS = (('y', 365 * 86400), ('w', 7 * 86400), ('d', 86400), ('h', 3600),
                   ('m', 60), ('s', 1), ('ms', 0.001))
_DURATION_RE = re.compile(
    r'^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$')
_DURATION_HELP = ("use seconds (e.g. 300) or a Prometheus duration such as "
                  "500ms, 90s, 5m, 2h, 7d, 1w, 1y or 1h30m")


class ThresholdError(ValueError):
    """A rule or an observation that cannot be evaluated. The message names the
    field, the value and the rule id; the same facts are kept as attributes."""

    def __init__(self, message, field=None, value=None, rule_id=None):
        super(ThresholdError, self).__init__(message)
        self.field = field
        self.value = value
        self.rule_id = rule_id


# --------------------------------------------------------------------------- helpers

def _show(value):
    """A value as a person reads it in an error message."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, string_types):
        return "'%s'" % (str(value),)
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        return '[%s]' % ', '.join(_show(v) for v in value)
    if isinstance(value, Mapping):
        return '{%s}' % ', '.join('%s: %s' % (k, _show(v)) for k, v in value.items())
    return str(value)


def _rule_label(rule_id, name=None):
    label = "rule '%s'" % (rule_id,) if rule_id is not None else 'rule (no id)'
    if name and name != rule_id:
        label += ' (%s)' % (name,)
    return label


def _rule_error(rule_id, field, value, problem, name=None):
    if field is None:
        msg = '%s: %s' % (_rule_label(rule_id, name), problem)
    else:
        msg = "%s: field '%s' = %s: %s" % (_rule_label(rule_id, name), field, _show(value), problem)
    return ThresholdError(msg, field=field, value=value, rule_id=rule_id)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse_number(value):
    """int/float/numeric string -> int or float (ints stay ints); None if it is not
    a finite number. Booleans are not numbers here."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, string_types):
        text = str(value).strip()
        if not text:
            return None
        if re.match(r'^[+-]?\d+$', text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def format_number(value):
    """Render a number exactly and readably: 0.2 -> '0.2', 204800.0 -> '204800',
    1e-05 -> '0.00001'; never an exponent."""
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return repr(value)
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    if 'e' in text or 'E' in text:
        text = format(decimal.Decimal(text), 'f')
    return text


def _deep_merge(base, override):
    result = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _to_timestamp(value, what):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    number = _parse_number(value)
    if number is None:
        raise ThresholdError('%s = %s is not a finite number of seconds (a Unix timestamp)'
                             % (what, _show(value)), field=what, value=value)
    return float(number)


# --------------------------------------------------------------------------- durations

def to_seconds(value):
    """Seconds (int/float/numeric string) or a Prometheus duration ('90s', '5m',
    '2h', '7d', '1w', '1y', '500ms', '1h30m') -> float seconds."""
    if isinstance(value, bool) or value is None:
        raise ThresholdError('duration %s is not valid: %s' % (_show(value), _DURATION_HELP),
                             field='duration', value=value)
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif _is_number(value):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ThresholdError('duration %s is not a finite number of seconds' % _show(value),
                                 field='duration', value=value)
    elif isinstance(value, string_types):
        text = str(value).strip()
        number = _parse_number(text)
        if number is not None:
            seconds = float(number)
        else:
            match = _DURATION_RE.match(text)
            if not text or not match or not any(match.groups()):
                raise ThresholdError('duration %s is not valid: %s' % (_show(value), _DURATION_HELP),
                                     field='duration', value=value)
            seconds = 0.0
            for group, (_unit, factor) in zip(match.groups(), _DURATION_UNITS):
                if group:
                    seconds += int(group) * factor
            seconds = round(seconds, 3)
    else:
        raise ThresholdError('duration %s (a %s) is not valid: %s'
                             % (_show(value), type(value).__name__, _DURATION_HELP),
                             field='duration', value=value)
    if seconds < 0:
        raise ThresholdError('duration %s is negative' % _show(value), field='duration', value=value)
    return float(seconds)


def format_duration(seconds):
    """Float seconds -> the Prometheus duration string (300 -> '5m', 5400 -> '1h30m')."""
    millis = int(round(to_seconds(seconds) * 1000))
    if millis == 0:
        return '0s'
    parts = []
    for unit, factor in _DURATION_UNITS:
        unit_ms = int(round(factor * 1000))
        count, millis = divmod(millis, unit_ms)
        if count:
            parts.append('%d%s' % (count, unit))
    return ''.join(parts)


# --------------------------------------------------------------------------- rules

def validate_rule(rule, rule_id=None, allow_unset=False):
    """Check one rule and return a normalized copy with every field present:
    id, name, kind, op, value, for, for_seconds, no_data, unit, action, query,
    aggregate, description.

    allow_unset=True accepts a rule whose value is null (a number set per release,
    e.g. the circuit constraint count); evaluating such a rule is an error."""
    if rule_id is None and isinstance(rule, Mapping):
        rule_id = rule.get('id')
    if rule_id is not None:
        rule_id = str(rule_id)
    if not isinstance(rule, Mapping):
        raise _rule_error(rule_id, None, rule,
                          'a rule must be a mapping of fields (kind, op, value, ...), got %s %s'
                          % (type(rule).__name__, _show(rule)))
    name = rule.get('name')
    if name is not None and not isinstance(name, string_types):
        raise _rule_error(rule_id, 'name', name, 'must be a string')
    name = str(name) if name else (rule_id or 'unnamed check')

    def fail(field, value, problem):
        return _rule_error(rule_id, field, value, problem, name=name)

    unknown = sorted(str(k) for k in rule if k not in RULE_FIELDS)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, RULE_FIELDS, n=1)
            hints.append("'%s'%s" % (key, " (did you mean '%s'?)" % close[0] if close else ''))
        raise fail(unknown[0], rule[unknown[0]],
                   'unknown field %s; known fields: %s' % (', '.join(hints), ', '.join(RULE_FIELDS)))
    if rule.get('id') is not None and str(rule.get('id')) != rule_id:
        raise fail('id', rule.get('id'), "does not match the rule's key '%s'" % rule_id)

    kind = rule.get('kind')
    if kind not in KINDS:
        raise fail('kind', kind, 'is %s; must be one of %s'
                   % ('not set' if kind is None else 'not a known kind', ', '.join(KINDS)))
    op = rule.get('op')
    if op not in OPS:
        raise fail('op', op, 'is %s; must be one of %s'
                   % ('not set' if op is None else 'not a known operator', ', '.join(OPS)))

    value = rule.get('value')
    if value is None:
        if not allow_unset:
            raise fail('value', None, 'value is not set (null): set a number for this rule, e.g. '
                       "x402_threshold_overrides: {'%s': {value: ...}}" % (rule_id or 'ID'))
    elif op in _NUMERIC_OPS:
        number = _parse_number(value)
        if number is None or isinstance(value, (list, tuple, Mapping)):
            raise fail('value', value, "must be a finite number for op '%s'" % op)
        value = number
    elif op == 'between':
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise fail('value', value, "op 'between' needs a list [lo, hi] of two numbers")
        low, high = _parse_number(value[0]), _parse_number(value[1])
        if low is None or high is None:
            raise fail('value', value, "op 'between' needs a list [lo, hi] of two finite numbers")
        if low > high:
            raise fail('value', value, "op 'between' needs lo <= hi, got lo %s > hi %s"
                       % (format_number(low), format_number(high)))
        value = [low, high]
    else:  # subset
        if not isinstance(value, (list, tuple)):
            raise fail('value', value, "op 'subset' needs a list of the allowed numbers")
        allowed = []
        for index, item in enumerate(value):
            number = _parse_number(item)
            if number is None:
                raise fail('value', value, "op 'subset' needs numbers; element %d is %s"
                           % (index, _show(item)))
            allowed.append(number)
        value = allowed

    for_seconds = None
    if rule.get('for') is not None:
        try:
            for_seconds = to_seconds(rule.get('for'))
        except ThresholdError as exc:
            raise fail('for', rule.get('for'), 'not a valid duration: %s' % (exc,))
    elif rule.get('for_seconds') is not None:
        try:
            for_seconds = to_seconds(rule.get('for_seconds'))
        except ThresholdError as exc:
            raise fail('for_seconds', rule.get('for_seconds'), 'not a valid duration: %s' % (exc,))
    if for_seconds is not None:
        field = 'for' if rule.get('for') is not None else 'for_seconds'
        if kind != 'trigger':
            raise fail(field, rule.get(field), "'for' applies to triggers only, this rule is a %s" % kind)
        if op == 'subset':
            raise fail(field, rule.get(field), "'for' cannot be combined with op 'subset'")

    no_data = rule.get('no_data')
    if no_data is not None and no_data not in NO_DATA_MODES:
        raise fail('no_data', no_data, 'must be one of %s (or unset)' % ', '.join(NO_DATA_MODES))

    aggregate = rule.get('aggregate')
    if aggregate is None:
        aggregate = 'mean'
    elif aggregate not in AGGREGATES:
        raise fail('aggregate', aggregate, 'must be one of %s' % ', '.join(AGGREGATES))

    action = rule.get('action')
    if action is not None:
        if not isinstance(action, string_types) or not str(action).strip():
            raise fail('action', action, 'must be a non-empty string')
        if kind != 'trigger':
            raise fail('action', action, "'action' applies to triggers only, this rule is a %s" % kind)
        action = str(action).strip()

    texts = {}
    for field in ('unit', 'query', 'description'):
        text = rule.get(field)
        if text is not None and not isinstance(text, string_types):
            if field == 'unit' and _is_number(text):
                text = str(text)
            else:
                raise fail(field, text, 'must be a string')
        texts[field] = str(text).strip() if text is not None and str(text).strip() else None

    return {
        'id': rule_id,
        'name': name,
        'kind': kind,
        'op': op,
        'value': value,
        'for': format_duration(for_seconds) if for_seconds is not None else None,
        'for_seconds': for_seconds,
        'no_data': no_data,
        'unit': texts['unit'],
        'action': action,
        'query': texts['query'],
        'aggregate': aggregate,
        'description': texts['description'],
    }


def merge_rules(defaults, overrides=None):
    """Deep-merge per-id overrides into the defaults and validate every rule.
    Returns id -> validated rule (each with its id). An override for an id that is
    not in the defaults is an error naming it. A rule whose value is null stays
    (unset) until a play evaluates it."""
    if not isinstance(defaults, Mapping):
        raise ThresholdError('the threshold defaults (x402_thresholds) must be a mapping of '
                             'checklist id -> rule, got %s %s' % (type(defaults).__name__, _show(defaults)),
                             field='x402_thresholds', value=defaults)
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, Mapping):
        raise ThresholdError('the threshold overrides (x402_threshold_overrides) must be a mapping of '
                             'checklist id -> fields, got %s %s' % (type(overrides).__name__, _show(overrides)),
                             field='x402_threshold_overrides', value=overrides)
    known = [str(k) for k in defaults]
    unknown = [str(k) for k in overrides if str(k) not in known]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
            hints.append("'%s'%s" % (key, " (did you mean '%s'?)" % close[0] if close else ''))
        raise ThresholdError('x402_threshold_overrides: unknown checklist id %s: an override must '
                             'name a rule of x402_thresholds' % ', '.join(hints),
                             field='x402_threshold_overrides', value=unknown[0], rule_id=unknown[0])
    by_id = dict((str(k), v) for k, v in overrides.items())
    merged = {}
    for key, rule in defaults.items():
        rule_id = str(key)
        if not isinstance(rule, Mapping):
            raise _rule_error(rule_id, None, rule, 'a rule must be a mapping of fields, got %s %s'
                              % (type(rule).__name__, _show(rule)))
        override = by_id.get(rule_id)
        if override is None:
            override = {}
        if not isinstance(override, Mapping):
            raise ThresholdError("x402_threshold_overrides: the override of rule '%s' = %s must be a "
                                 'mapping of fields, e.g. {value: ...}' % (rule_id, _show(override)),
                                 field='x402_threshold_overrides', value=override, rule_id=rule_id)
        combined = _deep_merge(rule, override)
        if 'id' in combined and combined['id'] is None:
            del combined['id']
        merged[rule_id] = validate_rule(combined, rule_id, allow_unset=True)
    return merged


# --------------------------------------------------------------------------- observations

def _sample_number(value, where):
    """One observed number (a sample value or timestamp) -> float, or ThresholdError."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if _is_number(value):
        number = float(value)
        if not math.isfinite(number):
            raise ThresholdError('%s: %s is not a finite number (NaN and Inf cannot be compared)'
                                 % (where, _show(value)), field='observed', value=value)
        return number
    if isinstance(value, string_types):
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            raise ThresholdError('%s: %s is not a number' % (where, _show(value)),
                                 field='observed', value=value)
        if not math.isfinite(number):
            raise ThresholdError('%s: %s is not a finite number (NaN and Inf cannot be compared)'
                                 % (where, _show(value)), field='observed', value=value)
        return number
    raise ThresholdError('%s: %s (a %s) is not a number' % (where, _show(value), type(value).__name__),
                         field='observed', value=value)


def _is_pair(item):
    return isinstance(item, (list, tuple)) and len(item) == 2


def normalize_observed(observed):
    """None / '' / [] -> None (no data); a number, numeric string or bool -> float;
    a list of [timestamp, value] pairs (Prometheus range format, values may be
    strings) -> sorted list of (ts, value) float tuples; a flat list of numbers
    (e.g. open ports, for op 'subset') -> list of floats."""
    if observed is None:
        return None
    if isinstance(observed, string_types) and not str(observed).strip():
        return None
    if isinstance(observed, (list, tuple)):
        if len(observed) == 0:
            return None
        if _is_pair(observed[0]):
            series = []
            for index, item in enumerate(observed):
                if not _is_pair(item):
                    raise ThresholdError('observed sample %d %s is not a [timestamp, value] pair like '
                                         'the samples before it' % (index, _show(item)),
                                         field='observed', value=item)
                where = 'observed sample %d %s' % (index, _show(item))
                ts = _sample_number(item[0], where + ', timestamp')
                series.append((ts, _sample_number(item[1], where + ', value')))
            series.sort(key=lambda sample: sample[0])
            return series
        values = []
        for index, item in enumerate(observed):
            if isinstance(item, (list, tuple, Mapping)):
                raise ThresholdError('observed element %d %s: a list must hold either numbers or '
                                     '[timestamp, value] pairs, not a mix' % (index, _show(item)),
                                     field='observed', value=item)
            values.append(_sample_number(item, 'observed element %d' % index))
        return values
    if isinstance(observed, Mapping):
        raise ThresholdError('observed %s is a mapping: pass the number, or the list of [timestamp, value] '
                             "pairs (a Prometheus range result's 'values')" % _show(observed),
                             field='observed', value=observed)
    return _sample_number(observed, 'observed value')


def _is_series(obs):
    return isinstance(obs, list) and bool(obs) and isinstance(obs[0], tuple)


def holds(op, observed_value, value):
    """THE comparison: does `observed_value op value` hold? ('between' is inclusive;
    'subset': every observed element is in value)."""
    if op not in OPS:
        raise ThresholdError("op %s is not a known operator; must be one of %s" % (_show(op), ', '.join(OPS)),
                             field='op', value=op)
    if op == 'subset':
        if not isinstance(value, (list, tuple)):
            raise ThresholdError("op 'subset' needs a list value, got %s" % _show(value), field='value', value=value)
        allowed = [_sample_number(v, 'allowed element') for v in value]
        items = observed_value if isinstance(observed_value, (list, tuple)) else [observed_value]
        return all(_sample_number(item, 'observed element') in allowed for item in items)
    if observed_value is None:
        raise ThresholdError("no observed value to compare with op '%s'" % op, field='observed', value=None)
    number = _sample_number(observed_value, 'observed value')
    if op == 'between':
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ThresholdError("op 'between' needs [lo, hi], got %s" % _show(value), field='value', value=value)
        low = _sample_number(value[0], 'between lo')
        high = _sample_number(value[1], 'between hi')
        return low <= number <= high
    limit = _sample_number(value, 'rule value')
    if op == '<':
        return number < limit
    if op == '<=':
        return number <= limit
    if op == '>':
        return number > limit
    if op == '>=':
        return number >= limit
    return number == limit


def _infer_step(series):
    step = None
    for index in range(1, len(series)):
        delta = series[index][0] - series[index - 1][0]
        if delta > 0 and (step is None or delta < step):
            step = delta
    return step


def _analyse_run(series, op, value, step=None, now=None):
    """The trailing run of samples (ending at the newest) at which the condition
    held without a gap. Returns a dict: holding (bool), held (seconds, or None),
    step, samples, reason (why it is not holding)."""
    if step is None:
        step = _infer_step(series)
    newest_ts, newest_value = series[-1]
    info = {'holding': False, 'held': None, 'step': step, 'samples': len(series),
            'newest': newest_value, 'reason': None}
    if now is not None and step is not None and newest_ts < now - GAP_FACTOR * step:
        info['reason'] = ('newest sample is %ss old (more than 1.5 x step %ss): not currently holding'
                          % (format_number(round(now - newest_ts, 3)), format_number(step)))
        return info
    if not holds(op, newest_value, value):
        info['reason'] = 'condition not holding at the newest sample'
        return info
    start = len(series) - 1
    while start > 0:
        prev_ts, prev_value = series[start - 1]
        if step is not None and series[start][0] - prev_ts > GAP_FACTOR * step:
            break
        if not holds(op, prev_value, value):
            break
        start -= 1
    info['holding'] = True
    info['held'] = newest_ts - series[start][0]
    return info


def _series_for_duration(series, what):
    obs = normalize_observed(series)
    if obs is None:
        return None
    if not _is_series(obs):
        raise ThresholdError('%s %s is a single value (or a list of values without timestamps): a value cannot '
                             'show a duration; pass the list of [timestamp, value] samples'
                             % (what, _show(series)), field='observed', value=series)
    return obs


def sustained(series, op, value, duration, step=None, now=None):
    """True when `sample op value` held at every sample of a trailing run, ending
    at the newest sample, that spans at least `duration` (Prometheus `for:`)."""
    seconds = to_seconds(duration)
    if step is not None:
        step = to_seconds(step)
        if step <= 0:
            raise ThresholdError('step %s must be positive' % _show(step), field='step', value=step)
    if now is not None:
        now = _to_timestamp(now, 'now')
    obs = _series_for_duration(series, 'series')
    if obs is None:
        return False
    info = _analyse_run(obs, op, value, step=step, now=now)
    return bool(info['holding'] and info['held'] >= seconds)


def _aggregate(series, how):
    values = [v for _ts, v in series]
    if how == 'last':
        return values[-1]
    if how == 'max':
        return max(values)
    if how == 'min':
        return min(values)
    # mean, kept inside [min, max] so a constant window is exactly its constant
    mean = math.fsum(values) / len(values)
    return min(max(mean, min(values)), max(values))


# --------------------------------------------------------------------------- evaluation

def _requirement(rule):
    op, value = rule['op'], rule['value']
    if op == 'between':
        return 'between %s and %s' % (format_number(value[0]), format_number(value[1]))
    if op == 'subset':
        return 'subset of [%s]' % ', '.join(format_number(v) for v in value)
    return '%s %s' % (op, format_number(value))


def _show_observed(obs):
    if isinstance(obs, list):
        return '[%s]' % ', '.join(format_number(v) for v in obs)
    return format_number(obs)


def evaluate(observed, rule, now=None, step=None):
    """Evaluate one observation against one rule.
    Returns {id, name, kind, observed, rule, breached, status, detail}.
    now (Unix seconds) and step (the sampling interval; inferred from the samples
    when None) only matter for a rule with 'for', as in sustained()."""
    rule = validate_rule(rule)
    rule_id, name, kind, op, value = rule['id'], rule['name'], rule['kind'], rule['op'], rule['value']
    if now is not None:
        now = _to_timestamp(now, 'now')
    if step is not None:
        step = to_seconds(step)
        if step <= 0:
            raise ThresholdError('%s: step %s must be positive' % (_rule_label(rule_id, name), _show(step)),
                                 field='step', value=step, rule_id=rule_id)

    def result(obs, breached, status, detail):
        return {'id': rule_id, 'name': name, 'kind': kind, 'observed': obs, 'rule': rule,
                'breached': bool(breached), 'status': status, 'detail': '%s: %s' % (name, detail)}

    try:
        if op == 'subset' and isinstance(observed, (list, tuple)) and len(observed) == 0:
            obs = []  # an empty set (e.g. no open port) is data, and a subset of anything
        else:
            obs = normalize_observed(observed)
    except ThresholdError as exc:
        raise ThresholdError('%s: %s' % (_rule_label(rule_id, name), exc), field='observed',
                             value=exc.value, rule_id=rule_id)

    if obs is None:
        if kind == 'gate':
            return result(None, True, 'no_data', 'no data: gate fails closed')
        if rule['no_data'] == 'breach':
            status = 'fire' if kind == 'trigger' else 'warn'
            return result(None, True, status, 'no data: the absence of data is itself the signal '
                          '(no_data: breach): %s' % status.upper())
        if kind == 'expectation':
            return result(None, False, 'no_data', 'no data: expectation not verified (reported as a warning)')
        return result(None, False, 'no_data', 'no data: the trigger does not fire by itself; '
                      'escalated to the operator')

    unit = rule['unit']
    series = _is_series(obs)
    if op == 'subset':
        if series:
            raise _rule_error(rule_id, 'observed', observed, "op 'subset' needs the list of observed "
                              'numbers (e.g. open ports), not [timestamp, value] samples', name=name)
        if not isinstance(obs, list):
            obs = [obs]
    elif isinstance(obs, list) and not series:
        raise _rule_error(rule_id, 'observed', observed,
                          "a list of numbers only fits op 'subset'; pass one number, or [timestamp, value] "
                          'samples (for a Prometheus instant value, its value[1])', name=name)

    if rule['for_seconds'] is not None:
        if not series:
            raise _rule_error(rule_id, 'observed', observed,
                              "a single value cannot show a duration: this rule needs 'for: %s' of samples; "
                              'pass the list of [timestamp, value] samples' % rule['for'], name=name)
        info = _analyse_run(obs, op, value, step=step, now=now)
        need = rule['for_seconds']
        fired = bool(info['holding'] and info['held'] >= need)
        status = 'fire' if fired else 'quiet'
        head = 'observed %s (%snewest of %d samples), fires when %s for %s' % (
            format_number(info['newest']), '%s, ' % unit if unit else '', info['samples'],
            _requirement(rule), rule['for'])
        if info['holding']:
            tail = 'held %ss of required %ss' % (format_number(round(info['held'], 3)), format_number(need))
        else:
            tail = info['reason']
        return result(info['newest'], fired, status, '%s: %s: %s' % (head, tail, status.upper()))

    how = ''
    if series:
        number = _aggregate(obs, rule['aggregate'])
        how = '%s of %d samples' % (rule['aggregate'], len(obs))
        obs_value = number
    else:
        obs_value = obs
    ok = holds(op, obs_value, value)
    paren = ', '.join(p for p in (unit, how) if p)
    shown = 'observed %s%s' % (_show_observed(obs_value), ' (%s)' % paren if paren else '')
    if kind == 'trigger':
        status = 'fire' if ok else 'quiet'
        return result(obs_value, ok, status, '%s, fires when %s: %s' % (shown, _requirement(rule), status.upper()))
    status = 'pass' if ok else ('fail' if kind == 'gate' else 'warn')
    extra = ''
    if op == 'subset' and not ok:
        extra = ' (not allowed: %s)' % ', '.join(format_number(v) for v in obs_value if v not in value)
    return result(obs_value, not ok, status, '%s, required %s%s: %s' % (shown, _requirement(rule), extra,
                                                                        status.upper()))


def _result_kind(entry, index):
    kind = entry.get('kind')
    if kind is None and isinstance(entry.get('rule'), Mapping):
        kind = entry['rule'].get('kind')
    status = entry.get('status')
    if kind is None:
        owners = [k for k in KINDS if status in STATUSES[k]]
        if len(owners) == 1 or status == 'pass':
            kind = owners[0]  # 'pass' never blocks nor warns, gate or expectation alike
        else:
            raise ThresholdError('result %d (id %s) has status %s but no kind: cannot tell a gate from '
                                 'an expectation' % (index, _show(entry.get('id')), _show(status)),
                                 field='kind', value=None, rule_id=entry.get('id'))
    if kind not in KINDS:
        raise ThresholdError('result %d (id %s): field \'kind\' = %s is not one of %s'
                             % (index, _show(entry.get('id')), _show(kind), ', '.join(KINDS)),
                             field='kind', value=kind, rule_id=entry.get('id'))
    if status not in STATUSES[kind]:
        raise ThresholdError('result %d (id %s): field \'status\' = %s is not a status of a %s (%s)'
                             % (index, _show(entry.get('id')), _show(status), kind, ', '.join(STATUSES[kind])),
                             field='status', value=status, rule_id=entry.get('id'))
    return kind, status


def decide(results):
    """GO iff nothing blocks. blocking: gates fail/no_data, triggers fire;
    warnings: expectations warn/no_data, triggers no_data. No results -> NO-GO."""
    if isinstance(results, Mapping):
        if 'status' in results:
            raise ThresholdError('decide() takes a list of results, got a single result (id %s): wrap it in a list'
                                 % _show(results.get('id')), field='results', value=results)
        results = list(results.values())
    if not isinstance(results, (list, tuple)):
        raise ThresholdError('results = %s (a %s) must be a list of check results'
                             % (_show(results), type(results).__name__), field='results', value=results)
    if not results:
        return {'decision': 'NO-GO', 'warnings': [], 'blocking': [{
            'id': 'go_no_go', 'name': 'checks given to the go/no-go decision', 'kind': 'gate',
            'observed': 0, 'rule': None, 'breached': True, 'status': 'no_data',
            'detail': 'no checks were given to the go/no-go decision: nothing shows it is safe (fail closed): NO-GO',
        }]}
    blocking, warnings = [], []
    for index, entry in enumerate(results):
        if not isinstance(entry, Mapping):
            raise ThresholdError('result %d = %s is not a result mapping (id, kind, status, ...)'
                                 % (index, _show(entry)), field='results', value=entry)
        kind, status = _result_kind(entry, index)
        entry = dict(entry)
        if (kind == 'gate' and status in ('fail', 'no_data')) or (kind == 'trigger' and status == 'fire'):
            blocking.append(entry)
        elif status in ('warn', 'no_data'):
            warnings.append(entry)
    return {'decision': 'NO-GO' if blocking else 'GO', 'blocking': blocking, 'warnings': warnings}


# --------------------------------------------------------------------------- Prometheus

def alert_name(rule_id):
    """'rollback_criteria.1' -> 'X402RollbackCriteria1';
    'scaling_plan.when_to_scale_up.1.1' -> 'X402ScalingPlanWhenToScaleUp1_1'."""
    name = 'X402'
    for token in re.split(r'[^A-Za-z0-9]+', str(rule_id)):
        if not token:
            continue
        if name[-1].isdigit() and token[0].isdigit():
            name += '_'
        name += token[0].upper() + token[1:]
    return name


def promql_condition(rule):
    """'(<query>) > 0.2' for a rule with a query."""
    rule = validate_rule(rule)
    if not rule['query']:
        raise _rule_error(rule['id'], 'query', None, 'is not set: no PromQL condition without a query',
                          name=rule['name'])
    query, op, value = rule['query'], rule['op'], rule['value']
    if op == 'subset':
        raise _rule_error(rule['id'], 'op', op, 'cannot be expressed as a PromQL condition', name=rule['name'])
    if op == 'between':
        return '(%s) >= %s <= %s' % (query, format_number(value[0]), format_number(value[1]))
    return '(%s) %s %s' % (query, op, format_number(value))


def _rule_items(rules):
    if isinstance(rules, Mapping):
        return [(str(k), v) for k, v in rules.items()]
    if isinstance(rules, (list, tuple)):
        items = []
        for index, rule in enumerate(rules):
            if not isinstance(rule, Mapping) or rule.get('id') is None:
                raise ThresholdError('rules[%d] = %s: a rule in a list must be a mapping with its id'
                                     % (index, _show(rule)), field='id', value=rule)
            items.append((str(rule['id']), rule))
        return items
    raise ThresholdError('rules = %s (a %s) must be a mapping id -> rule or a list of rules with ids'
                         % (_show(rules), type(rules).__name__), field='rules', value=rules)


def alert_rules(rules, group='x402-triggers'):
    """Prometheus alerting rules for every trigger that has a query:
    {'groups': [{'name': group, 'rules': [...]}]}."""
    if not isinstance(group, string_types) or not str(group).strip():
        raise ThresholdError('group %s must be a non-empty string' % _show(group), field='group', value=group)
    alerts, names = [], {}
    for rule_id, rule in _rule_items(rules):
        checked = validate_rule(rule, rule_id, allow_unset=True)
        if checked['kind'] != 'trigger' or not checked['query']:
            continue
        if checked['value'] is None:
            validate_rule(rule, rule_id)  # raises: value is not set
        name = alert_name(rule_id)
        if name in names:
            raise _rule_error(rule_id, 'id', rule_id, "gives the alert name '%s' of rule '%s' too"
                              % (name, names[name]), name=checked['name'])
        names[name] = rule_id
        action = checked['action'] or 'notify'
        unit = ' (%s)' % checked['unit'] if checked['unit'] else ''
        condition = _requirement(checked)
        if checked['for']:
            condition += ' for %s' % checked['for']
        alert = {'alert': name, 'expr': promql_condition(checked)}
        if checked['for_seconds']:
            alert['for'] = checked['for']
        alert['labels'] = {
            'severity': 'critical' if action == 'rollback' else 'warning',
            'action': action,
            'checklist_id': rule_id,
        }
        alert['annotations'] = {
            'summary': 'x402: %s %s%s: %s' % (checked['name'], condition, unit, action),
            'description': ('%s is {{ $value }}%s; the trigger fires when %s. Action: %s (checklist item %s).'
                            % (checked['name'], unit, condition, action, rule_id)),
        }
        alerts.append(alert)
    return {'groups': [{'name': str(group), 'rules': alerts}]}
