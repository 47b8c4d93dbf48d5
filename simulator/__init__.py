"""Terminal feature-phone simulator speaking the Africa's Talking USSD protocol."""
