"""The emulator's state and behaviour, independent of any transport."""
