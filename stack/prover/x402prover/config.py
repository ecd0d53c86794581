"""Configuration of the reference prover: the environment names of TARGET_SYSTEM.md.

Every setting comes from the environment. Names without a prefix are the real
prover's (spec/TARGET_SYSTEM.md); names starting with X402_ exist only in the
reference implementation (see stack/README.md).
"""
import ipaddress
import os
import pathlib

FAULTS = ('none', 'http_500', 'invalid_proof', 'unhealthy')
TRUE = ('1', 'true', 'yes', 'on')
FALSE = ('0', 'false', 'no', 'off', '')
LOG_LEVELS = ('debug', 'info', 'warn', 'warning', 'error')
PROVER_ROOT = pathlib.Path(__file__).resolve().parents[1]   # stack/prover (or /opt/x402/prover in the image)
CIRCUIT_NAME = 'payment_proof'


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def _bool(env, name, default):
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError('%s must be true or false, not %r' % (name, raw))


def _int(env, name, default, minimum=None):
    raw = env.get(name)
    if raw is None or raw.strip() == '':
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError('%s must be an integer, not %r' % (name, raw)) from None
    if minimum is not None and value < minimum:
        raise ConfigError('%s must be >= %d, not %d' % (name, minimum, value))
    return value


def _float(env, name, default, minimum=0.0):
    raw = env.get(name)
    if raw is None or raw.strip() == '':
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError('%s must be a number, not %r' % (name, raw)) from None
    if value < minimum:
        raise ConfigError('%s must be >= %s, not %s' % (name, minimum, value))
    return value


def _list(env, name, default=''):
    return [item.strip() for item in env.get(name, default).split(',') if item.strip()]


def _networks(env, name, default):
    nets = []
    for item in _list(env, name, default):
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError('%s: %r is not an IP address or network' % (name, item)) from None
    return nets


def _circuit_files(circuit_path):
    """CIRCUIT_PATH is the circuit's .wasm or a directory holding payment_proof.wasm (+ .r1cs)."""
    path = pathlib.Path(circuit_path)
    if path.is_dir():
        return path / (CIRCUIT_NAME + '.wasm'), path / (CIRCUIT_NAME + '.r1cs')
    return path, path.with_suffix('.r1cs')


class Config:
    """Settings read once at start-up; attribute names follow the variables."""

    def __init__(self, env=None):
        env = dict(os.environ if env is None else env)
        self.port = _int(env, 'PORT', 8080, minimum=0)
        if self.port > 65535:
            raise ConfigError('PORT must be <= 65535, not %d' % self.port)
        self.bind_address = env.get('X402_BIND_ADDRESS', '127.0.0.1')
        self.gin_mode = env.get('GIN_MODE', 'release').strip().lower() or 'release'
        self.log_level = env.get('LOG_LEVEL', 'debug' if self.gin_mode == 'debug' else 'info').strip().lower()
        if self.log_level not in LOG_LEVELS:
            raise ConfigError('LOG_LEVEL must be one of %s, not %r' % (', '.join(LOG_LEVELS), self.log_level))
        self.log_format = env.get('LOG_FORMAT', 'json').strip().lower()
        if self.log_format not in ('json', 'text'):
            raise ConfigError('LOG_FORMAT must be json or text, not %r' % self.log_format)

        self.enable_api_auth = _bool(env, 'ENABLE_API_AUTH', True)
        self.api_key = env.get('API_KEY', '')
        if self.enable_api_auth and not self.api_key:
            raise ConfigError('ENABLE_API_AUTH is on but API_KEY is empty')
        self.allowed_origins = _list(env, 'ALLOWED_ORIGINS')
        self.rate_limit_per_minute = _float(env, 'RATE_LIMIT_PER_MINUTE', 10.0)
        self.rate_limit_burst = _int(env, 'RATE_LIMIT_BURST', 20, minimum=1)
        self.trusted_proxies = _networks(env, 'X402_TRUSTED_PROXIES', '127.0.0.1/32,::1/128')

        self.cache_size = _int(env, 'CACHE_SIZE', 1000, minimum=0)
        self.cache_ttl_seconds = _float(env, 'CACHE_TTL_SECONDS', 300.0)

        self.database_path = env.get('DATABASE_PATH', './data/prover.db')
        self.database_max_connections = _int(env, 'DATABASE_MAX_CONNECTIONS', 4, minimum=1)
        self.backup_interval_hours = _float(env, 'BACKUP_INTERVAL_HOURS', 0.0)
        self.backup_path = env.get('BACKUP_PATH', '')
        if self.backup_interval_hours > 0 and not self.backup_path:
            raise ConfigError('BACKUP_INTERVAL_HOURS is set but BACKUP_PATH is empty')

        self.circuit_path = env.get('CIRCUIT_PATH', '')
        self.proving_key_path = env.get('PROVING_KEY_PATH', '')
        self.verification_key_path = env.get('VERIFICATION_KEY_PATH', '')
        for name in ('CIRCUIT_PATH', 'PROVING_KEY_PATH', 'VERIFICATION_KEY_PATH'):
            if not env.get(name):
                raise ConfigError('%s is not set' % name)
        self.circuit_wasm, self.circuit_r1cs = _circuit_files(self.circuit_path)
        for label, path in (('CIRCUIT_PATH', self.circuit_wasm), ('PROVING_KEY_PATH', self.proving_key_path),
                            ('VERIFICATION_KEY_PATH', self.verification_key_path)):
            if not pathlib.Path(path).is_file():
                raise ConfigError('%s: %s does not exist' % (label, path))

        self.enable_hsts = _bool(env, 'ENABLE_HSTS', False)
        self.max_request_size_mb = _float(env, 'MAX_REQUEST_SIZE_MB', 1.0)
        self.max_request_bytes = int(self.max_request_size_mb * 1024 * 1024)
        self.enable_tls = _bool(env, 'ENABLE_TLS', False)
        self.tls_cert_path = env.get('TLS_CERT_PATH', '')
        self.tls_key_path = env.get('TLS_KEY_PATH', '')
        if self.enable_tls and not (self.tls_cert_path and self.tls_key_path):
            raise ConfigError('ENABLE_TLS is on but TLS_CERT_PATH or TLS_KEY_PATH is empty')

        # Reference-only settings.
        self.version = env.get('X402_VERSION', 'dev')
        self.service = env.get('X402_SERVICE_NAME', 'x402-prover')
        self.fault = env.get('X402_FAULT', 'none').strip().lower() or 'none'
        if self.fault not in FAULTS:
            raise ConfigError('X402_FAULT must be one of %s, not %r' % (', '.join(FAULTS), self.fault))
        self.timestamp_window_seconds = _int(env, 'X402_TIMESTAMP_WINDOW_SECONDS', 300, minimum=1)
        self.clock_skew_seconds = _int(env, 'X402_CLOCK_SKEW_SECONDS', 30, minimum=0)
        self.node = env.get('X402_NODE', 'node')
        self.node_path = env.get('X402_NODE_PATH') or env.get('NODE_PATH', '')
        self.workers = _int(env, 'X402_PROVER_WORKERS', 1, minimum=1)
        self.worker_timeout_seconds = _float(env, 'X402_WORKER_TIMEOUT_SECONDS', 60.0, minimum=1.0)
        self.verify_generated = _bool(env, 'X402_VERIFY_GENERATED', True)
