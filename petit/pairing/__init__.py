"""How a device becomes someone's: app-assisted pairing (seed 001 v2), claim codes (seed 000), and release.

All flows share one audit trail (``petit.audit``), one attempt throttle (``petit.lib.throttle``) and one
way of handling secrets (``petit.lib.secrets``).
"""
