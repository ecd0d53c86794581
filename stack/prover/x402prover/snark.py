"""Pool of long-lived snarkjs worker processes (stack/prover/snark_worker.js).

Each worker holds the circuit wasm, proving key and verification key in memory
and answers one JSON request per line. A worker serves one request at a time;
requests beyond the pool size wait for a free worker (the wait is the queue
depth exported as `proof_queue_depth`). A worker that dies or stops answering
is replaced on its next use.
"""
import json
import os
import pathlib
import queue
import select
import subprocess
import threading
import time

WORKER_JS = pathlib.Path(__file__).resolve().parents[1] / 'snark_worker.js'


class ProverError(RuntimeError):
    """The worker failed (crash, timeout, or an error it reported)."""


class WorkerExited(ProverError):
    """The worker process ended (killed, crashed): the request may be retried on a new one."""


class WitnessError(ProverError):
    """The inputs violate a circuit constraint (the witness cannot be computed)."""


class Worker:
    def __init__(self, cfg, log):
        self.cfg, self.log = cfg, log
        self.proc = None
        self._next_id = 0
        self._buf = b''
        self.info = {}

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        env = dict(os.environ)
        if self.cfg.node_path:
            env['NODE_PATH'] = self.cfg.node_path
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with  # lives as long as the service
            [self.cfg.node, str(WORKER_JS), str(self.cfg.circuit_wasm), str(self.cfg.proving_key_path),
             str(self.cfg.verification_key_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self._buf = b''
        threading.Thread(target=self._pump_stderr, args=(self.proc,), daemon=True).start()
        self.info = self._read(self.cfg.worker_timeout_seconds)
        if not self.info.get('ready'):
            raise ProverError('snark worker did not start: %r' % (self.info,))
        self.log('info', 'snark worker started', pid=self.proc.pid, snarkjs=self.info.get('snarkjs'),
                 node=self.info.get('node'), warm_up_ms=self.info.get('warmUpMs'))

    def _pump_stderr(self, proc):
        for line in proc.stderr:
            text = line.decode('utf-8', 'replace').rstrip()
            if text:
                self.log('debug', 'snark worker: ' + text, pid=proc.pid)

    def stop(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b'\n' not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProverError('snark worker did not answer within %.0f s' % timeout)
            ready, _w, _x = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WorkerExited('snark worker exited (code %s)' % self.proc.wait())
            self._buf += chunk
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line)

    def call(self, message):
        if not self.alive():
            self.start()
        self._next_id += 1
        message = dict(message, id=self._next_id)
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b'\n')
            self.proc.stdin.flush()
            answer = self._read(self.cfg.worker_timeout_seconds)
        except (BrokenPipeError, WorkerExited) as exc:
            self.log('error', 'snark worker exited; it is restarted on the next request', error=str(exc))
            self.stop_hard()
            raise WorkerExited(str(exc)) from exc
        except (OSError, ValueError, ProverError) as exc:
            self.log('error', 'snark worker failed; restarting it', error=str(exc))
            self.stop_hard()
            raise ProverError(str(exc)) from exc
        if answer.get('id') != message['id']:
            self.stop_hard()
            raise ProverError('snark worker answered out of order')
        if not answer.get('ok'):
            error = answer.get('error', 'unknown error')
            if 'Assert Failed' in error or 'Not all inputs' in error or 'Too many values' in error:
                raise WitnessError(error)
            raise ProverError(error)
        return answer

    def stop_hard(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Pool:
    def __init__(self, cfg, log, on_wait=None):
        self.cfg, self.log = cfg, log
        self.on_wait = on_wait or (lambda delta: None)
        self.workers = [Worker(cfg, log) for _i in range(cfg.workers)]
        self._idle = queue.Queue()

    def start(self):
        for worker in self.workers:
            worker.start()
            self._idle.put(worker)

    def stop(self):
        for worker in self.workers:
            worker.stop()

    def healthy(self):
        return all(w.alive() for w in self.workers)

    def revive(self):
        """Restart dead workers that are idle (called periodically by the service)."""
        for _i in range(len(self.workers)):
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                return
            try:
                if not worker.alive():
                    self.log('warn', 'snark worker is not running; restarting it')
                    worker.start()
            except (OSError, ValueError, ProverError) as exc:
                self.log('error', 'snark worker restart failed', error=str(exc))
                worker.stop_hard()
            finally:
                self._idle.put(worker)

    def call(self, message):
        self.on_wait(1)
        try:
            worker = self._idle.get(timeout=self.cfg.worker_timeout_seconds)
        except queue.Empty:
            raise ProverError('no snark worker became free within %.0f s' % self.cfg.worker_timeout_seconds) from None
        finally:
            self.on_wait(-1)
        try:
            try:
                return worker.call(message)
            except WorkerExited:
                # prove and verify are pure: one retry on a fresh worker is safe
                return worker.call(message)
        finally:
            self._idle.put(worker)

    def prove(self, circuit_input):
        return self.call({'op': 'prove', 'input': circuit_input})

    def verify(self, proof, public_signals):
        return self.call({'op': 'verify', 'proof': proof, 'publicSignals': public_signals})
