"""Stand-in for get-pip.py, which ansible-test downloads from a host this machine
cannot reach. ansible-test runs it inside an empty virtual environment with pip's
install options as arguments; install pip from the interpreter's bundled wheel
(ensurepip), then hand those options to the real pip, which fetches from PyPI."""
import ensurepip
import os
import subprocess
import sys

CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
if os.path.exists(CA_BUNDLE):  # ansible-test runs pip with a reduced environment
    args += ['--cert', CA_BUNDLE]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
