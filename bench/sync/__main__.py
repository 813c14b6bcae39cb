"""Sync soak benchmark: continuous sync under out-of-band edits and creates, lossy webhooks and a
worker SIGKILL, then the delta pass at scale. See bench/sync/run.py."""
from bench.sync.run import main

main()
