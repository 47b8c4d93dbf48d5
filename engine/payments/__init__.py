"""Mobile money: deposits, withdrawals and wallet-to-wallet sends, with the providers' state kept exactly."""
