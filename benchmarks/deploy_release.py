"""Deploy benchmark on the sandbox (prints numbers; not a test).

    scripts/with-env.sh python3 benchmarks/deploy_release.py [--rps 2]

Needs the sandbox up with a release running (`make deploy`). Under a steady load from a
second process on 127.0.0.1 (benchmarks/steady_load.py), it:
  1. deploys a new good release (tagged in the sandbox's git repository) with deploy.yml:
     wall time, requests failed during the rolling deploy, P95 latency during it;
  2. deploys a bad release (every proof answers 5xx) and lets deploy.yml roll it back:
     time from the first failed request (the bad release live) to the rollback finished
     and the previous version answering /health again.
Prints one JSON document.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
HOME = pathlib.Path.home() / '.cache' / 'x402-runbook'
KEY_FILE = HOME / 'secrets' / 'api_keys' / 'x402-prover.key'
URL = 'http://127.0.0.1:18000'


def health_version():
    try:
        with urllib.request.urlopen(URL + '/health', timeout=5) as answer:
            return json.load(answer).get('version')
    except (OSError, ValueError):
        return None


def deploy(version, workdir, *extra):
    subprocess.run(['git', '--git-dir', str(HOME / 'source'), 'tag', '--force', 'v' + version], check=True)
    started = time.time()
    result = subprocess.run(['ansible-playbook', 'deploy.yml', '-e', 'x402_release_version=' + version,
                             '-e', 'x402_record_dir=' + str(workdir), *extra],
                            cwd=str(ROOT), capture_output=True, text=True, check=False)
    return result, started, time.time()


def under_load(rps, workdir, action, name):
    stop = workdir / ('stop-' + name)
    load = subprocess.Popen([sys.executable, str(ROOT / 'benchmarks' / 'steady_load.py'), '--url', URL,
                             '--api-key-file', str(KEY_FILE), '--rps', str(rps), '--stop-file', str(stop)],
                            stdout=subprocess.PIPE, text=True)
    try:
        outcome = action()
    finally:
        stop.write_text('')
    return outcome, json.loads(load.communicate(timeout=120)[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--rps', type=float, default=2.0)
    parser.add_argument('--good', default='0.9.%d' % (int(time.time()) % 100000))
    args = parser.parse_args()
    previous = health_version()
    if previous is None:
        sys.exit('no release answers on %s: run `make deploy` first' % URL)
    work = pathlib.Path(tempfile.mkdtemp(prefix='x402-bench-'))
    (result, started, ended), load = under_load(args.rps, work, lambda: deploy(args.good, work / 'good'), 'good')
    good = {'release': args.good, 'from': previous, 'exit': result.returncode,
            'deploy_wall_s': round(ended - started, 1), 'load': load}
    bad_version = args.good + '-bad'

    def bad_deploy():
        result, started, ended = deploy(bad_version, work / 'bad', '-e', 'x402_release_fault=http_500')
        while health_version() != args.good and time.time() - ended < 120:
            time.sleep(0.5)
        return result, started, time.time()

    (result, started, healthy_again), load = under_load(args.rps, work, bad_deploy, 'bad')
    first_bad = load.get('first_failure_epoch')
    bad = {'release': bad_version, 'exit': result.returncode, 'deploy_and_rollback_wall_s': round(healthy_again - started, 1),
           'bad_live_to_healthy_again_s': round(healthy_again - first_bad, 1) if first_bad else None,
           'serving_version_after': health_version(), 'load': load}
    print(json.dumps({'rolling_deploy': good, 'bad_release_rollback': bad}, indent=2, sort_keys=True))


if __name__ == '__main__':
    main()
