"""Webhook retry storms (RB-003): sampling and replaying dead-lettered events, and the `webhooks.*` built-in actions."""
