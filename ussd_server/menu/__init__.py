"""The menu runtime: YAML trees validated by a schema, compiled to transitions machines."""
