"""``python -m emulators PLATFORM [--host H] [--port N]``: serve one platform's emulator."""

from __future__ import annotations

import argparse

from emulators.runner import emulator_names, run_emulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators", description=__doc__)
    parser.add_argument("name", choices=emulator_names(), help="which platform to emulate")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    run_emulator(args.name, args.host, args.port)


if __name__ == "__main__":
    main()
