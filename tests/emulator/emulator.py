#!/usr/bin/env python
"""Local Microsoft Defender for Endpoint emulator (sign-in + API + control).

    python tests/emulator/emulator.py [--port 0] [--state-dir DIR] [--seed 1]
                                      [--alerts N] [--machines N] [--time-scale F]

Prints one line of JSON settings on stdout, writes DIR/settings.json and
DIR/env.sh, then serves until SIGTERM/SIGINT. Importable: ``from emulator
import Emulator``.
"""

import argparse
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from server import Emulator  # noqa: E402

__all__ = ["Emulator", "main"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--state-dir", default=None, help="where ca.pem, certificates, settings.json, env.sh go")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--alerts", type=int, default=1000)
    p.add_argument("--machines", type=int, default=100)
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiplies throttle windows and action delays (0.01: a minute lasts 0.6 s)")
    p.add_argument("--token-lifetime", type=int, default=3599)
    p.add_argument("--duplicate-mode", choices=["error", "return_pending", "alternate"], default="error")
    p.add_argument("--no-throttle", action="store_true")
    args = p.parse_args(argv)

    emu = Emulator(state_dir=args.state_dir, port=args.port, host=args.host, seed=args.seed, alerts=args.alerts,
                   machines=args.machines, time_scale=args.time_scale, token_lifetime=args.token_lifetime,
                   duplicate_mode=args.duplicate_mode, **({"throttle": False} if args.no_throttle else {}))
    settings = emu.start()
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.stdout.write(json.dumps(settings) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
