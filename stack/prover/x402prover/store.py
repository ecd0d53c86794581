"""State of the reference prover: proof cache, rate limiter, SQLite record of proofs issued."""
import collections
import hashlib
import json
import os
import pathlib
import queue
import sqlite3
import threading
import time

SCHEMA = '''
CREATE TABLE IF NOT EXISTS proofs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    request_hash TEXT NOT NULL,
    commitment TEXT NOT NULL,
    public_inputs TEXT NOT NULL,
    generation_ms REAL NOT NULL,
    cached INTEGER NOT NULL,
    self_check TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS proofs_created_at ON proofs (created_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
'''
SCHEMA_VERSION = '1'


def request_key(circuit_input):
    """Cache key: sha256 of the canonical JSON of the circuit inputs."""
    return hashlib.sha256(json.dumps(circuit_input, sort_keys=True, separators=(',', ':')).encode()).hexdigest()


class ProofCache:
    """LRU cache with a time to live; size 0 disables it."""

    def __init__(self, size, ttl_seconds, clock=time.monotonic):
        self.size, self.ttl, self.clock = size, ttl_seconds, clock
        self._items = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = self.expired = 0

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is not None and self.clock() - item[0] > self.ttl:
                del self._items[key]
                self.expired += 1
                item = None
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def put(self, key, value):
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = (self.clock(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
                self.evictions += 1

    def __len__(self):
        with self._lock:
            return len(self._items)

    def stats(self):
        with self._lock:
            lookups = self.hits + self.misses
            return {
                'hits': self.hits,
                'misses': self.misses,
                'size': len(self._items),
                'maxSize': self.size,
                'ttlSeconds': self.ttl,
                'evictions': self.evictions,
                'expired': self.expired,
                'hitRate': round(self.hits / lookups, 4) if lookups else 0.0,
            }


class RateLimiter:
    """Token bucket per client: capacity `burst`, refilled at `per_minute` / 60 tokens per second."""

    def __init__(self, per_minute, burst, clock=time.monotonic, max_clients=100000):
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.max_clients = max_clients
        self._buckets = collections.OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client):
        """(allowed, seconds until the next token)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[client] = (tokens, now)
            self._buckets.move_to_end(client)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        retry = 0.0 if allowed else ((1.0 - tokens) / self.rate if self.rate > 0 else 60.0)
        return allowed, retry


class Database:
    """SQLite in WAL mode with a small connection pool (DATABASE_MAX_CONNECTIONS)."""

    def __init__(self, path, max_connections):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pool = queue.Queue()
        self.max_connections = max_connections
        first = self._connect()
        mode = first.execute('PRAGMA journal_mode=WAL').fetchone()[0]
        if mode.lower() != 'wal':
            raise RuntimeError('SQLite refused WAL mode for %s (journal_mode=%s)' % (path, mode))
        first.executescript(SCHEMA)
        first.execute('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', ('schema_version', SCHEMA_VERSION))
        first.commit()
        self._pool.put(first)
        for _i in range(max_connections - 1):
            self._pool.put(self._connect())
        self.last_backup = None

    def _connect(self):
        conn = sqlite3.connect(str(self.path), timeout=10, check_same_thread=False, isolation_level='DEFERRED')
        conn.execute('PRAGMA synchronous=NORMAL')
        conn.execute('PRAGMA busy_timeout=10000')
        conn.execute('PRAGMA foreign_keys=ON')
        return conn

    def _with(self, func):
        conn = self._pool.get()
        try:
            return func(conn)
        finally:
            self._pool.put(conn)

    def journal_mode(self):
        return self._with(lambda c: c.execute('PRAGMA journal_mode').fetchone()[0])

    def record(self, **row):
        cols = ('created_at', 'request_hash', 'commitment', 'public_inputs', 'generation_ms', 'cached',
                'self_check', 'client_ip', 'version')
        values = [row[c] for c in cols]

        def insert(conn):
            with conn:
                conn.execute('INSERT INTO proofs (%s) VALUES (%s)' % (', '.join(cols), ', '.join('?' * len(cols))),
                             values)
        self._with(insert)

    def count(self):
        return self._with(lambda c: c.execute('SELECT COUNT(*) FROM proofs').fetchone()[0])

    def check(self):
        """'ok' or the first problem PRAGMA quick_check reports."""
        return self._with(lambda c: c.execute('PRAGMA quick_check').fetchone()[0])

    def size_bytes(self):
        total = 0
        for suffix in ('', '-wal', '-shm'):
            try:
                total += os.path.getsize(str(self.path) + suffix)
            except OSError:
                pass
        return total

    def backup(self, directory):
        """Online backup (sqlite3 backup API) into DIRECTORY/prover-<UTC>.db; returns its path."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / time.strftime('prover-%Y%m%dT%H%M%SZ.db', time.gmtime())
        tmp = target.with_suffix('.db.tmp')

        def copy(conn):
            dest = sqlite3.connect(str(tmp))
            try:
                conn.backup(dest)
                result = dest.execute('PRAGMA integrity_check').fetchone()[0]
            finally:
                dest.close()
            if result != 'ok':
                tmp.unlink()
                raise RuntimeError('backup failed its integrity check: %s' % result)
        self._with(copy)
        os.replace(tmp, target)
        self.last_backup = time.time()
        return target

    def close(self):
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return
