"""Recovery follow-up: the postmortem drafted from the timeline, its review and export."""
