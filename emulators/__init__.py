"""Local emulators of the Procore and Business Central APIs, for tests and demos (docs/emulators.md).

Each factory returns an isolated ASGI app seeded with the project's demo data; ``run_emulator``
serves one over HTTP and ``serve_in_thread`` runs one in the background for tests.
"""

from emulators.dynamics import create_dynamics_app
from emulators.procore import create_procore_app
from emulators.runner import create_emulator_app, run_emulator, serve_in_thread

__all__ = ["create_dynamics_app", "create_emulator_app", "create_procore_app", "run_emulator", "serve_in_thread"]
