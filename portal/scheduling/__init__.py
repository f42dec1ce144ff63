"""The shared calendar: every dated event across a user's workrooms, and its iCal feed."""
