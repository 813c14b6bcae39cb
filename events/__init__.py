"""Events for API callers: what happened to a customer's data (written with the change itself),
served as a pull feed (GET /events) and delivered, signed per the Standard Webhooks specification,
to the customer's webhook endpoints by one durable workflow per endpoint."""
