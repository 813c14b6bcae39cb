"""Procore (REST v1.0): canonical mapping in ``platforms.procore.mapping``."""
