"""The web console: server-rendered pages over the same services as the API, and the public status page."""
