"""bench/events: event delivery to webhook endpoints, against plain HTTP POSTs."""
