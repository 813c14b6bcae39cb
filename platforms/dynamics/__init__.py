"""Dynamics 365 Business Central (API v2.0): canonical mapping in ``platforms.dynamics.mapping``."""
