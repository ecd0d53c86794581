# -*- coding: utf-8 -*-
# Copyright: x402.runbook developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment and incident record: validation, redaction, JSON and Markdown.

Plain standard-library Python (plus the collection's threshold engine and
Prometheus client), shared by the module ``deploy_record`` and its tests. The
PNG itself is drawn by ``deploy_record_plot`` (matplotlib); this file fetches
and summarises what it draws, so that the record's JSON says in numbers what
the plot shows.

Every problem with an input raises :class:`RecordError` whose message names
the field, the value and the rule it breaks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
from collections.abc import Mapping

from ansible_collections.x402.runbook.plugins.module_utils.prometheus import (
    PrometheusError,
    format_time,
    parse_time,
    redact_url,
    series_of,
)
from ansible_collections.x402.runbook.plugins.module_utils.thresholds import (
    KINDS as RULE_KINDS,
    RULE_FIELDS,
    STATUSES,
    ThresholdError,
    format_duration,
    format_number,
    holds,
    _requirement as requirement,  # the engine's own wording of a bound
    to_seconds,
    validate_rule,
)

RECORD_KINDS = ('deployment', 'incident')
OUTCOMES = ('GO', 'NO-GO', 'ROLLED-BACK', 'ROLLBACK-FAILED')
# Every status of the result shape, in the order a summary lists them.
CHECK_STATUSES = ('pass', 'fail', 'warn', 'no_data', 'quiet', 'fire')
# Statuses a person must look at (the Markdown shows them in bold).
ATTENTION = ('fail', 'warn', 'no_data', 'fire')
REDACTED = '<redacted>'
FORMAT = 'x402.runbook.deploy_record/1'  # changes when a field changes meaning
# Keys whose values are never written: matched in the key's name, any case, - or _ alike.
SECRET_KEY = re.compile(r'api_?key|password|passwd|passphrase|token|secret|private_?key|'
                        r'authorization|credential|bearer', re.IGNORECASE)
# Prometheus answers at most 11,000 points per series of a range query.
MAX_POINTS = 11000
# After these the plot is given up (Prometheus cannot be reached at all); other errors
# (a query Prometheus rejects) only empty that one series.
FATAL_ERRORS = ('connection', 'timeout', 'invalid_url', 'invalid_json', 'http')
# Fields of a check in the order the JSON lists them; other fields follow, sorted.
CHECK_FIELDS = ('id', 'name', 'kind', 'status', 'observed', 'rule', 'breached', 'detail')
# The record's own top-level fields, in their JSON order; extra's keys follow them.
RECORD_FIELDS = ('format', 'kind', 'release', 'previous_release', 'operator', 'started_at', 'finished_at',
                 'duration', 'outcome', 'summary', 'checks', 'signoffs', 'timeline', 'trigger', 'plot',
                 'plot_error', 'post_mortem')
REVIEW_WITHIN = 24 * 3600  # the checklist: schedule the incident review within 24 hours

_TIME_HELP = 'must be unix seconds or an RFC 3339 timestamp with a zone (e.g. 2026-11-28T00:00:00Z)'
_SHAPE = 'the result shape {id, name, observed, rule, status, detail}'


class RecordError(ValueError):
    """An input that cannot go into a record; the message names field, value and rule."""

    def __init__(self, field, value, problem):
        super(RecordError, self).__init__("%s = %s: %s" % (field, _quote(value), problem))
        self.field = field
        self.value = value


def _quote(value):
    if isinstance(value, str):
        return "'%s'" % value
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


# --------------------------------------------------------------------------- secrets

def is_secret_key(key):
    return bool(SECRET_KEY.search(str(key).replace('-', '_').replace(' ', '_')))


def redact(value):
    """A copy of ``value`` in which every value under a secret-looking key is REDACTED
    and credentials embedded in URLs are removed. Returns (copy, the secret strings found)."""
    found = []

    def walk(item):
        if isinstance(item, Mapping):
            result = {}
            for key, sub in item.items():
                if is_secret_key(key) and sub not in (None, ''):
                    _collect(sub, found)
                    result[key] = REDACTED
                else:
                    result[key] = walk(sub)
            return result
        if isinstance(item, (list, tuple)):
            return [walk(sub) for sub in item]
        if isinstance(item, str) and '://' in item and '@' in item:
            return redact_url(item)
        return item

    return walk(value), found


def _collect(value, found):
    if isinstance(value, Mapping):
        for sub in value.values():
            _collect(sub, found)
    elif isinstance(value, (list, tuple)):
        for sub in value:
            _collect(sub, found)
    elif value not in (None, ''):
        found.append(str(value))


# --------------------------------------------------------------------------- values

def to_time(field, value):
    """Unix seconds from a timestamp input; RecordError naming the field otherwise."""
    if hasattr(value, 'isoformat') and not isinstance(value, str):
        value = value.isoformat()
        if not re.search(r'([Zz]|[+-]\d{2}:?\d{2})$', value):
            raise RecordError(field, value, _TIME_HELP + '; this one has no zone')
    try:
        return parse_time(value)
    except ValueError:
        raise RecordError(field, value, _TIME_HELP)


def show_value(value):
    """An observed value as a person reads it: numbers without float noise, None as 'no data'."""
    if value is None:
        return 'no data'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return format_number(float('%.10g' % value))
    if isinstance(value, int):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        return ', '.join(show_value(item) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _bound(rule):
    if rule['value'] is None:
        return '%s (value set per release)' % rule['op']
    return requirement(rule)


def rule_text(rule):
    """'required < 0.05 ratio', 'fires when > 0.2 ratio for 5m', ... ('' when there is no rule)."""
    if rule is None or rule == {} or rule == '':
        return ''
    if not isinstance(rule, Mapping):
        return show_value(rule)
    known = dict((k, v) for k, v in rule.items() if k in RULE_FIELDS)
    try:
        normal = validate_rule(known, rule_id=known.get('id'), allow_unset=True)
    except ThresholdError:
        return json.dumps(rule, sort_keys=True, default=str)
    verb = {'gate': 'required', 'expectation': 'expected', 'trigger': 'fires when'}[normal['kind']]
    text = '%s %s' % (verb, _bound(normal))
    if normal['unit']:
        text += ' %s' % normal['unit']
    if normal['for']:
        text += ' for %s' % normal['for']
    return text


def _json_safe(value):
    """NaN and infinities are not JSON: write them as the strings Prometheus uses."""
    if isinstance(value, float) and not math.isfinite(value):
        return 'NaN' if math.isnan(value) else ('+Inf' if value > 0 else '-Inf')
    if isinstance(value, Mapping):
        return dict((str(k), _json_safe(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _ordered(mapping, first=()):
    """The known keys in their order, then the others sorted: the same input, the same JSON."""
    keys = [k for k in first if k in mapping]
    keys += sorted(k for k in mapping if k not in first)
    return dict((k, mapping[k]) for k in keys)


# --------------------------------------------------------------------------- validation

def validate_check(field, check):
    """One result of the result shape, as it goes into the record."""
    if not isinstance(check, Mapping):
        raise RecordError(field, check, 'must be a mapping in %s' % _SHAPE)
    label = '%s (id %s)' % (field, _quote(check.get('id'))) if check.get('id') else field
    if not check.get('id') and not check.get('name'):
        raise RecordError(field, check, "needs an 'id' or a 'name' (%s)" % _SHAPE)
    status = check.get('status')
    if status not in CHECK_STATUSES:
        raise RecordError(label + '.status', status,
                          'must be one of %s (%s)' % (', '.join(CHECK_STATUSES), _SHAPE))
    kind = check.get('kind')
    if kind is None and isinstance(check.get('rule'), Mapping):
        kind = check['rule'].get('kind')
    if kind is not None:
        if kind not in RULE_KINDS:
            raise RecordError(label + '.kind', kind, 'must be one of %s' % ', '.join(RULE_KINDS))
        if status not in STATUSES[kind]:
            raise RecordError(label + '.status', status, 'is not a status of a %s (%s)'
                              % (kind, ', '.join(STATUSES[kind])))
    return _json_safe(_ordered(dict((k, _sorted_deep(v)) for k, v in check.items()), CHECK_FIELDS))


def validate_timeline(entries):
    out = []
    for index, entry in enumerate(entries or []):
        field = 'timeline[%d]' % index
        if not isinstance(entry, Mapping):
            raise RecordError(field, entry, 'must be a mapping {at, event}')
        if 'at' not in entry:
            raise RecordError(field, entry, "needs 'at' (when) and 'event' (what happened)")
        at = to_time(field + '.at', entry['at'])
        event = entry.get('event')
        if not isinstance(event, str) or not event.strip():
            raise RecordError(field + '.event', event, 'must be a non-empty text saying what happened')
        item = dict(_sorted_deep(dict(entry)), at=format_time(at), event=event.strip())
        out.append((at, index, _json_safe(_ordered(item, ('at', 'event')))))
    # In time order; entries at the same time keep the caller's order.
    return [item for _at, _index, item in sorted(out, key=lambda t: (t[0], t[1]))]


def validate_signoffs(signoffs):
    out = {}
    for key, value in (signoffs or {}).items():
        if isinstance(value, Mapping):
            if not value.get('by'):
                raise RecordError('signoffs.%s' % key, value, "a sign-off given as a mapping needs 'by' (who)")
            out[str(key)] = _ordered(_sorted_deep(dict(value)), ('by', 'at'))
        elif isinstance(value, (list, tuple)):
            raise RecordError('signoffs.%s' % key, value, 'must be who signed off (a name), or {by, at}')
        else:
            out[str(key)] = '' if value is None else str(value)
    return dict(sorted(out.items()))


def build_record(params, now):
    """The record (a dict in its JSON order) from the module's parameters, redacted and
    validated; ``now`` (unix seconds) is the default of finished_at.

    Returns (record, secret strings found under secret keys)."""
    free, secrets = redact({'checks': params.get('checks') or [], 'signoffs': params.get('signoffs') or {},
                            'timeline': params.get('timeline') or [], 'trigger': params.get('trigger'),
                            'extra': params.get('extra') or {}})
    kind = params.get('kind') or 'deployment'
    if kind not in RECORD_KINDS:
        raise RecordError('kind', kind, 'must be one of %s' % ', '.join(RECORD_KINDS))
    outcome = params.get('outcome')
    if outcome not in OUTCOMES:
        raise RecordError('outcome', outcome, 'must be one of %s' % ', '.join(OUTCOMES))
    for field in ('release', 'operator'):
        if not isinstance(params.get(field), str) or not params[field].strip():
            raise RecordError(field, params.get(field), 'must be a non-empty text')
    started = to_time('started_at', params.get('started_at'))
    finished_raw = params.get('finished_at')
    finished = now if finished_raw in (None, '') else to_time('finished_at', finished_raw)
    if finished < started:
        raise RecordError('finished_at', finished_raw if finished_raw not in (None, '') else format_time(now),
                          'is before started_at %s: a record ends after it starts' % format_time(started))
    checks = [validate_check('checks[%d]' % index, check) for index, check in enumerate(free['checks'])]
    trigger = None
    if free['trigger']:
        trigger = validate_check('trigger', free['trigger'])
    elif kind == 'incident':
        raise RecordError('trigger', free['trigger'], 'an incident record needs what fired: a result in '
                          "%s, for a rollback by hand e.g. {name: 'rollback decided by alice', status: fire}" % _SHAPE)
    counts = dict((status, 0) for status in CHECK_STATUSES)
    for check in checks:
        counts[check['status']] += 1
    record = {
        'format': FORMAT,
        'kind': kind,
        'release': params['release'].strip(),
        'previous_release': params.get('previous_release') or None,
        'operator': params['operator'].strip(),
        'started_at': format_time(started),
        'finished_at': format_time(finished),
        'duration': format_duration(finished - started),
        'outcome': outcome,
        'summary': {'checks': len(checks), 'by_status': counts,
                    'attention': [c.get('id') or c.get('name') for c in checks if c['status'] in ATTENTION]},
        'checks': checks,
        'signoffs': validate_signoffs(free['signoffs']),
        'timeline': validate_timeline(free['timeline']),
        'trigger': trigger,
        'plot': None,
        'plot_error': None,
        'post_mortem': {'review_due_by': format_time(finished + REVIEW_WITHIN)} if kind == 'incident' else None,
    }
    # extra is merged into the record, after its own fields; it cannot replace one of them.
    for key, value in sorted(_sorted_deep(free['extra']).items()):
        if key in RECORD_FIELDS:
            raise RecordError('extra.%s' % key, value, "is one of the record's own fields (%s): choose another name"
                              % ', '.join(RECORD_FIELDS))
        record[key] = _json_safe(value)
    return record, secrets


def extra_of(record):
    """The fields that came from ``extra``."""
    return dict((k, v) for k, v in record.items() if k not in RECORD_FIELDS)


def _sorted_deep(value):
    if isinstance(value, Mapping):
        return dict((str(k), _sorted_deep(value[k])) for k in sorted(value, key=str))
    if isinstance(value, (list, tuple)):
        return [_sorted_deep(v) for v in value]
    return value


# --------------------------------------------------------------------------- plot data

def _panel_key(rule):
    """Rules measuring the same thing share a panel: same name without its parenthesis
    ('error rate (first 30 min)' and 'error rate') and the same unit."""
    name = re.sub(r'\s*\([^)]*\)', '', rule['name']).strip()
    return name.lower(), rule['unit'] or '', name


def plot_spec(plot, started, finished):
    """Validate the ``plot`` option; returns {url, start, end, step, step_given, panels} where
    each panel is {title, unit, rules: [normalized rule, ...]}."""
    url = plot.get('prometheus_url')
    if not url:
        raise RecordError('plot.prometheus_url', url, 'is required to draw the plot')
    start = started if plot.get('start') in (None, '') else to_time('plot.start', plot['start'])
    end = finished if plot.get('end') in (None, '') else to_time('plot.end', plot['end'])
    if end <= start:
        raise RecordError('plot.end', plot.get('end') or format_time(end),
                          'must be after plot.start %s (the watch window)' % format_time(start))
    try:
        step = to_seconds(plot.get('step') if plot.get('step') is not None else '15s')
    except ThresholdError as exc:
        raise RecordError('plot.step', plot.get('step'), str(exc))
    if step <= 0:
        raise RecordError('plot.step', plot.get('step'), 'must be a positive duration such as 15s')
    step_given = step
    if (end - start) / step + 1 > MAX_POINTS:
        step = float(math.ceil((end - start) / (MAX_POINTS - 1)))
    rules = plot.get('rules')
    if not isinstance(rules, Mapping) or not rules:
        raise RecordError('plot.rules', rules, 'must be the threshold rules keyed by id (x402_rules)')
    series = plot.get('series') or []
    if not series:
        raise RecordError('plot.series', series, 'needs at least one threshold id to draw')
    panels = {}
    for index, rule_id in enumerate(series):
        field = 'plot.series[%d]' % index
        if rule_id not in rules:
            raise RecordError(field, rule_id, 'is not a rule of plot.rules (known: %s)'
                              % ', '.join(sorted(str(k) for k in rules)))
        raw = rules[rule_id]
        if not isinstance(raw, Mapping):
            raise RecordError('plot.rules.%s' % rule_id, raw, 'must be a rule (kind, op, value, query, ...)')
        try:
            rule = validate_rule(dict(raw, id=rule_id))
        except ThresholdError as exc:
            raise RecordError('plot.rules.%s' % rule_id, raw, str(exc))
        if rule['op'] == 'subset':
            raise RecordError(field, rule_id, "a rule with op 'subset' (a set of numbers) cannot be drawn over time")
        if not rule['query']:
            raise RecordError(field, rule_id, 'its rule has no query: the plot draws what Prometheus observes')
        key = _panel_key(rule)
        panel = panels.setdefault(key[:2], {'title': key[2], 'unit': rule['unit'], 'rules': []})
        if any(r['id'] == rule_id for r in panel['rules']):
            raise RecordError(field, rule_id, 'is listed twice')
        panel['rules'].append(rule)
    return {'url': url, 'start': start, 'end': end, 'step': step, 'step_given': step_given,
            'panels': list(panels.values())}


def breached(rule, value):
    """Is this sample over the bound? Gates and expectations: their requirement is not met;
    triggers: their condition holds (whether or not it lasted long enough to fire)."""
    if not math.isfinite(value):
        return False
    ok = holds(rule['op'], value, rule['value'])
    return ok if rule['kind'] == 'trigger' else not ok


def _runs(samples, flags, step):
    """[[from, to], ...] of consecutive breached samples (a gap over 1.5 steps ends a run)."""
    runs, current, last = [], None, None
    for (ts, _value), flag in zip(samples, flags):
        if flag and current is not None and ts - last <= 1.5 * step:
            current[1] = ts
        elif flag:
            current = [ts, ts]
            runs.append(current)
        else:
            current = None
        last = ts
    return [[format_time(a), format_time(b)] for a, b in runs]


def fetch_plot(client, spec):
    """Query every rule's series over the window. Returns the panels with their data:
    each rule gets 'series' [{labels, values, breached}] and 'error' (a rejected query).
    A PrometheusError of FATAL_ERRORS (unreachable, not Prometheus) propagates."""
    panels = []
    for panel in spec['panels']:
        drawn = []
        for rule in panel['rules']:
            entry = {'rule': rule, 'series': [], 'error': None}
            try:
                answer = series_of(client.query_range(rule['query'], spec['start'], spec['end'], spec['step']))
            except PrometheusError as exc:
                if exc.error_type in FATAL_ERRORS:
                    raise
                entry['error'] = str(exc)
                answer = []
            for one in answer:
                values = one.get('values')
                if values is None:  # an instant answer to a range query: one point
                    values = [one['value']]
                entry['series'].append({'labels': one['labels'], 'values': values,
                                        'breached': [breached(rule, v) for _ts, v in values]})
            drawn.append(entry)
        panels.append({'title': panel['title'], 'unit': panel['unit'], 'rules': drawn})
    return panels


def plot_summary(spec, panels, png_name):
    """What the plot shows, in numbers, for the JSON record."""
    out = []
    for panel in panels:
        rules = []
        for entry in panel['rules']:
            rule = entry['rule']
            series = []
            for one in entry['series']:
                finite = [v for _ts, v in one['values'] if math.isfinite(v)]
                series.append({
                    'labels': dict(sorted(one['labels'].items())),
                    'points': len(finite),
                    'min': min(finite) if finite else None,
                    'max': max(finite) if finite else None,
                    'last': finite[-1] if finite else None,
                    'breached_points': sum(1 for flag in one['breached'] if flag),
                    'breaches': _runs(one['values'], one['breached'], spec['step']),
                })
            rules.append({'id': rule['id'], 'name': rule['name'], 'kind': rule['kind'],
                          'rule': rule_text(rule), 'query': rule['query'],
                          'no_data': not any(s['points'] for s in series),
                          'error': entry['error'], 'series': series})
        out.append({'title': panel['title'], 'unit': panel['unit'], 'rules': rules})
    return {'file': png_name, 'prometheus_url': redact_url(spec['url']),
            'start': format_time(spec['start']), 'end': format_time(spec['end']),
            'step': format_duration(spec['step']), 'panels': out}


# --------------------------------------------------------------------------- output

def to_json(record):
    return json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False, default=str) + '\n'


def _cell(value):
    text = value if isinstance(value, str) else show_value(value)
    return text.replace('\\', '\\\\').replace('|', '\\|').replace('\r', '').replace('\n', '<br>')


def _signoff_text(value):
    if isinstance(value, Mapping):
        text = str(value.get('by'))
        if value.get('at'):
            text += ' at %s' % value['at']
        return text
    return value or '**MISSING**'


def _status(status):
    return '**%s**' % status.upper() if status in ATTENTION else status


def to_markdown(record, png_name=None):
    """The record as a person reads it."""
    kind = record['kind']
    lines = ['# %s record: release %s' % (kind.capitalize(), record['release']), '']
    previous = record.get('previous_release')
    rows = [('Release', record['release'] + (' (previous: %s)' % previous if previous else '')),
            ('Outcome', '**%s**' % record['outcome']),
            ('Operator', record['operator']),
            ('Started', record['started_at']),
            ('Finished', '%s (%s)' % (record['finished_at'], record['duration']))]
    lines += ['| | |', '|---|---|'] + ['| %s | %s |' % (k, _cell(v)) for k, v in rows] + ['']

    if record.get('trigger'):
        trigger = record['trigger']
        lines += ['## Trigger', '',
                  '**%s** %s: %s' % (_cell(trigger.get('id') or ''), _cell(trigger.get('name') or ''),
                                     _status(trigger['status'])),
                  '', '- Observed: %s' % _cell(trigger.get('observed')),
                  '- Rule: %s' % (_cell(rule_text(trigger.get('rule'))) or '—'),
                  '- Detail: %s' % _cell(trigger.get('detail') or '—'), '']

    by_status = record['summary']['by_status']
    counted = ', '.join('%d %s' % (n, s) for s, n in by_status.items() if n)
    lines += ['## Checks', '', '%d check(s)%s.' % (record['summary']['checks'], ': ' + counted if counted else ''), '']
    if record['checks']:
        lines += ['| item | check | status | observed | rule | detail |', '|---|---|---|---|---|---|']
        for check in record['checks']:
            lines.append('| %s | %s | %s | %s | %s | %s |' % (
                _cell(check.get('id') or ''), _cell(check.get('name') or ''), _status(check['status']),
                _cell(check.get('observed')), _cell(rule_text(check.get('rule'))), _cell(check.get('detail') or '')))
        lines.append('')

    lines += ['## Sign-offs', '']
    if record['signoffs']:
        lines += ['| item | signed off by |', '|---|---|']
        lines += ['| %s | %s |' % (_cell(k), _cell(_signoff_text(v))) for k, v in record['signoffs'].items()]
    else:
        lines.append('None recorded.')
    lines.append('')

    lines += ['## Timeline', '']
    if record['timeline']:
        lines += ['| time (UTC) | event |', '|---|---|']
        lines += ['| %s | %s |' % (_cell(e['at']), _cell(e['event'])) for e in record['timeline']]
    else:
        lines.append('No events recorded.')
    lines.append('')

    if record.get('plot'):
        plot = record['plot']
        titles = ', '.join(p['title'] for p in plot['panels'])
        lines += ['## Watch window', '',
                  '![%s from %s to %s](%s)' % (titles, plot['start'], plot['end'], png_name or plot['file']), '']
        for panel in plot['panels']:
            for rule in panel['rules']:
                lines.append('- %s (%s, %s): %s' % (
                    _cell(rule['name']), rule['id'], _cell(rule['rule']), _cell(_plot_line(rule))))
        lines.append('')
    elif record.get('plot_error'):
        lines += ['## Watch window', '', 'No plot: %s' % _cell(record['plot_error']), '']

    if extra_of(record):
        lines += ['## Details', '', '```json', json.dumps(extra_of(record), indent=2, ensure_ascii=False,
                                                          default=str), '```', '']

    if kind == 'incident':
        due = record['post_mortem']['review_due_by']
        lines += ['## Post-mortem', '',
                  '_To be completed by the people involved; the facts above are the starting point._', '']
        for heading, prompt in (('Summary', 'What happened, in two or three sentences.'),
                                ('Impact', 'Who and what was affected, for how long, how many payments or proofs.'),
                                ('Timeline', 'Start from the timeline above; add what people saw and did.'),
                                ('Root cause', 'Why it happened, not only what triggered the rollback.'),
                                ('Action items', '| action | owner | due |\n|---|---|---|\n| | | |')):
            lines += ['### %s' % heading, '', prompt, '']
        lines += ['### Review scheduled within 24 h', '',
                  'The incident review takes place by **%s** (24 h after the record was closed).' % due, '',
                  '- Date and time: ', '- Attendees: ', '']
    return '\n'.join(lines).rstrip('\n') + '\n'


def _plot_line(rule):
    if rule['error']:
        return 'query failed: %s' % rule['error']
    if rule['no_data']:
        return 'no data in the window'
    parts = []
    for one in rule['series']:
        text = 'max %s, last %s' % (show_value(one['max']), show_value(one['last']))
        if one['breaches']:
            text += ', over the bound %s' % ', '.join('%s–%s' % (a, b) for a, b in one['breaches'])
        labels = ', '.join('%s=%s' % item for item in one['labels'].items() if item[0] != '__name__')
        parts.append('%s%s' % ('{%s} ' % labels if labels else '', text))
    return '; '.join(parts)
