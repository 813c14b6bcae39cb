"""Connect benchmark: a synthetic customer seeded through the real ConnectWorkflow (see `bench.connect.run`)."""
