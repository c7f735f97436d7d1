"""petit."""
