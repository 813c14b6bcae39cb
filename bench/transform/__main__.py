"""`python -m bench.transform`: the mapping benchmark, then the HTTP benchmark."""

from __future__ import annotations

import sys

from bench.transform import http, mapping

if __name__ == "__main__":
    argv = sys.argv[:]
    sys.argv = [argv[0]]
    print("== mapping: records/s, ours vs hand-written ==")
    mapping.main()
    print("\n== HTTP: /transform vs bare endpoint ==")
    http.main()
