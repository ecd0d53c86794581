"""`python3 -m x402prover` (from stack/prover, or /opt/x402/prover in the image)."""
from .server import main

raise SystemExit(main())
