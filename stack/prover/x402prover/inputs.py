"""Validation of POST /generate-proof bodies (400s as TARGET_SYSTEM.md lists them)."""
import re
import time

PUBLIC_FIELDS = ('minAmount', 'recipientKeyX', 'recipientKeyY', 'maxBlockAge', 'currentTime')
PRIVATE_FIELDS = ('actualAmount', 'senderKeyX', 'senderKeyY', 'paymentTime',
                  'signatureR8x', 'signatureR8y', 'signatureS')
FIELDS = PUBLIC_FIELDS + PRIVATE_FIELDS
# Fields the circuit range-checks to 64 bits (amounts and unix times).
U64_FIELDS = ('minAmount', 'actualAmount', 'maxBlockAge', 'currentTime', 'paymentTime')
BN254_R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
U64_MAX = (1 << 64) - 1
DECIMAL = re.compile(r'^[0-9]{1,78}$')


class InvalidInput(ValueError):
    """A 400: `code` is machine-readable, the message says what to fix."""

    def __init__(self, code, message, field=None):
        super().__init__(message)
        self.code, self.field = code, field

    def as_dict(self):
        body = {'error': self.code, 'message': str(self)}
        if self.field:
            body['field'] = self.field
        return body


def _number(body, name):
    if name not in body or body[name] is None:
        raise InvalidInput('missing_field', 'field %s is required' % name, name)
    raw = body[name]
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise InvalidInput('invalid_number', '%s must be a decimal string' % name, name)
    text = str(raw).strip() if isinstance(raw, str) else str(raw)
    if not DECIMAL.match(text):
        raise InvalidInput('invalid_number', '%s must be a non-negative decimal integer, not %r' % (name, raw), name)
    value = int(text)
    if value >= BN254_R:
        raise InvalidInput('out_of_range', '%s must be smaller than the BN254 scalar field' % name, name)
    if name in U64_FIELDS and value > U64_MAX:
        raise InvalidInput('out_of_range', '%s must fit in 64 bits' % name, name)
    return value


def validate(body, window_seconds=300, skew_seconds=30, now=None):
    """Return the circuit input (all fields as decimal strings) or raise InvalidInput."""
    if not isinstance(body, dict):
        raise InvalidInput('invalid_json', 'the body must be a JSON object')
    values = {name: _number(body, name) for name in FIELDS}
    for name in ('minAmount', 'actualAmount'):
        if values[name] <= 0:
            raise InvalidInput('invalid_amount', '%s must be positive' % name, name)
    if values['actualAmount'] < values['minAmount']:
        raise InvalidInput('insufficient_amount', 'actualAmount is below minAmount', 'actualAmount')
    if values['maxBlockAge'] <= 0:
        raise InvalidInput('invalid_max_block_age', 'maxBlockAge must be positive', 'maxBlockAge')
    now = int(time.time() if now is None else now)
    for name in ('currentTime', 'paymentTime'):
        if not now - window_seconds <= values[name] <= now + skew_seconds:
            raise InvalidInput('timestamp_out_of_window',
                               '%s must be within the last %d s (server time %d, %d s of clock skew allowed)'
                               % (name, window_seconds, now, skew_seconds), name)
    if values['paymentTime'] > values['currentTime']:
        raise InvalidInput('payment_in_future', 'paymentTime is after currentTime', 'paymentTime')
    if values['currentTime'] - values['paymentTime'] > values['maxBlockAge']:
        raise InvalidInput('payment_too_old', 'currentTime - paymentTime exceeds maxBlockAge', 'paymentTime')
    return {name: str(values[name]) for name in FIELDS}
