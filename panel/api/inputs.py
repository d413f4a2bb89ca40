"""Body rules every client endpoint shares."""

from panel.errors import FieldError

# Valid JSON that is not an object: 422 on `body`, whatever the endpoint.
BODY_OBJECT = FieldError("body", "object", "The request body must be a JSON object.")
