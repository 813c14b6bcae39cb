"""A Procore emulator over real HTTP in its own process, loaded with a synthetic data set.

Run: ``.venv/bin/python -m bench.live_connect.emulator --port P --payments N``

The emulator's factory only seeds the demo data and its control API edits existing records, so
the bench builds the app with ``create_procore_app`` (rate limits raised out of the way) and
replaces its record store (``app.state.core.records``) with ``platforms.synthetic`` Procore
records (per 1,000 payments: 50 projects, 40 vendors, 125 contracts, 1,000 requisitions) before
serving. Nothing else about the emulator changes: same routes, paging, auth and headers.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from emulators.procore import ProcoreRateLimit, create_procore_app
from models.connect import SEED_ORDER
from platforms.synthetic import synthetic_records

UNLIMITED = ProcoreRateLimit(hourly=10**9, spike=10**9)


def loaded_app(payments: int) -> FastAPI:
    app = create_procore_app(rate_limit=UNLIMITED)
    app.state.core.records = {
        entity_type: {str(r["id"]): r for r in synthetic_records("procore", entity_type, payments=payments)}
        for entity_type in SEED_ORDER
    }
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--payments", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(loaded_app(args.payments), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
