"""The engine: durable timers and outbound deliveries as rows, claimed and run by one or more engines."""
