"""Enerlectra's server: the Africa's Talking USSD endpoint, settings, CLI and workers."""
