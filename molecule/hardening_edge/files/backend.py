"""Stand-in backend of the hardening_edge scenario: the provers' authentication contract.

200 with a JSON body for an API key (X-API-Key or `Authorization: Bearer`) starting with
`valid-`, 401 otherwise. Reads and discards request bodies. Listens on 127.0.0.1:8080.
"""
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def answer(self):
        remaining = int(self.headers.get('Content-Length') or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                break
            remaining -= len(chunk)
        key = self.headers.get('X-API-Key') or self.headers.get('Authorization', '').removeprefix('Bearer ')
        status = 200 if key.startswith('valid-') else 401
        body = json.dumps({'status': 'ok' if status == 200 else 'unauthorized', 'path': self.path}).encode() + b'\n'
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        # A backend's own copy of a security header must not reach the client (the edge hides it).
        self.send_header('X-Frame-Options', 'ALLOWALL')
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


if __name__ == '__main__':
    ThreadingHTTPServer(('127.0.0.1', 8080), Handler).serve_forever()
