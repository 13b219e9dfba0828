"""The notification service: Signed webhooks and e-mail; every delivery on the case's record."""
