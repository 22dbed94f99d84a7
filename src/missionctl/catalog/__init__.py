"""The catalog: services, teams, people, schedules, escalation policies, subscribers, and who owns what."""
