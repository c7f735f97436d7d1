"""porto_contract."""
