"""thingsboard_emulator."""
