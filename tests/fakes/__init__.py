"""In-memory stand-ins for petit's ports; test code only, never imported by petit."""
