"""The API's resources, one module each; each exports ``ROUTES``."""
