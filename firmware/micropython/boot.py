"""Runs before main.py on every boot: keep it minimal so a broken main.py can still be replaced."""

import gc

gc.collect()
