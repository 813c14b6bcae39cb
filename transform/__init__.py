"""Stateless translation between platforms through the canonical model (``POST /transform``)."""
