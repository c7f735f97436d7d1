"""Commands to a user's own devices (one-way or two-way calls) and their desired settings."""
