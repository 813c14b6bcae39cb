"""Live connect benchmark: ConnectWorkflow reading a Procore emulator over HTTP vs a plain GET loop."""
