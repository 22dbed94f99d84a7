"""Who is calling: API tokens (stored hashed) with the roles viewer, responder and admin."""
