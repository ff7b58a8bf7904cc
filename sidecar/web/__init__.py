"""The HTTP edge: routes, reading and answering JSON in the one error shape, who may call
(token, Host, CORS), the OpenAPI document, the status page and the metrics."""
