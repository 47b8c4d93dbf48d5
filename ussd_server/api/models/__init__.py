"""Request and response bodies: pydantic models, from which the OpenAPI document's schemas are generated."""
