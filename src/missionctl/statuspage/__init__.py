"""The public status page's subscriptions: people and systems who asked to hear about incidents."""
