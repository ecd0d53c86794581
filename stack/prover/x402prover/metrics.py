"""A minimal Prometheus registry (text exposition format 0.0.4), standard library only."""
import math
import os
import threading

CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'


def _escape(value):
    return str(value).replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def _labels(names, values, extra=()):
    pairs = list(zip(names, values)) + list(extra)
    if not pairs:
        return ''
    return '{%s}' % ','.join('%s="%s"' % (k, _escape(v)) for k, v in pairs)


def _num(value):
    if value == math.inf:
        return '+Inf'
    return repr(float(value))


class _Metric:
    kind = 'untyped'

    def __init__(self, name, doc, labelnames=()):
        self.name, self.doc, self.labelnames = name, doc, tuple(labelnames)
        self._lock = threading.Lock()
        self._values = {}

    def _key(self, labels):
        if set(labels) != set(self.labelnames):
            raise ValueError('%s takes labels %s, got %s' % (self.name, self.labelnames, sorted(labels)))
        return tuple(str(labels[n]) for n in self.labelnames)

    def header(self):
        return ['# HELP %s %s' % (self.name, self.doc), '# TYPE %s %s' % (self.name, self.kind)]


class Counter(_Metric):
    kind = 'counter'

    def __init__(self, name, doc, labelnames=()):
        super().__init__(name, doc, labelnames)
        if not self.labelnames:
            self._values[()] = 0.0

    def inc(self, amount=1.0, **labels):
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels):
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def render(self):
        with self._lock:
            items = sorted(self._values.items())
        return self.header() + ['%s%s %s' % (self.name, _labels(self.labelnames, k), _num(v)) for k, v in items]


class Gauge(Counter):
    kind = 'gauge'

    def set(self, value, **labels):
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def dec(self, amount=1.0, **labels):
        self.inc(-amount, **labels)


class CallbackGauge(_Metric):
    """A gauge whose value is computed at scrape time."""
    kind = 'gauge'

    def __init__(self, name, doc, func, kind='gauge'):
        super().__init__(name, doc)
        self._func = func
        self.kind = kind

    def render(self):
        try:
            value = self._func()
        except Exception:  # pylint: disable=broad-except  # a failing probe must not break /metrics
            return []
        if value is None:
            return []
        return self.header() + ['%s %s' % (self.name, _num(float(value)))]


class Histogram(_Metric):
    kind = 'histogram'

    def __init__(self, name, doc, buckets):
        super().__init__(name, doc)
        self.buckets = tuple(sorted(float(b) for b in buckets)) + (math.inf,)
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0

    def observe(self, value):
        with self._lock:
            self._sum += value
            self._count += 1
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1
                    break

    @property
    def count(self):
        with self._lock:
            return self._count

    def render(self):
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        lines = self.header()
        cumulative = 0
        for bound, n in zip(self.buckets, counts):
            cumulative += n
            lines.append('%s_bucket{le="%s"} %d' % (self.name, _num(bound), cumulative))
        lines.append('%s_sum %s' % (self.name, repr(total)))
        lines.append('%s_count %d' % (self.name, count))
        return lines


class Registry:
    def __init__(self):
        self._metrics = []

    def register(self, metric):
        self._metrics.append(metric)
        return metric

    def counter(self, name, doc, labelnames=()):
        return self.register(Counter(name, doc, labelnames))

    def gauge(self, name, doc, labelnames=()):
        return self.register(Gauge(name, doc, labelnames))

    def callback(self, name, doc, func, kind='gauge'):
        return self.register(CallbackGauge(name, doc, func, kind))

    def histogram(self, name, doc, buckets):
        return self.register(Histogram(name, doc, buckets))

    def render(self):
        lines = []
        for metric in self._metrics:
            lines.extend(metric.render())
        return '\n'.join(lines) + '\n'


def _proc_status_kib(field):
    try:
        with open('/proc/self/status', encoding='ascii') as handle:
            for line in handle:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def add_process_metrics(registry, started):
    """process_* series as the Prometheus client libraries name them (Linux /proc)."""
    registry.callback('process_resident_memory_bytes', 'Resident memory size in bytes.',
                      lambda: _proc_status_kib('VmRSS'))
    registry.callback('process_virtual_memory_bytes', 'Virtual memory size in bytes.',
                      lambda: _proc_status_kib('VmSize'))
    registry.callback('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.',
                      lambda: sum(os.times()[:2]), kind='counter')
    registry.callback('process_open_fds', 'Number of open file descriptors.',
                      lambda: len(os.listdir('/proc/self/fd')))
    registry.callback('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.',
                      lambda: started)
    registry.callback('process_threads', 'Number of OS threads in the process.', threading.active_count)
