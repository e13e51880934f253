"""Platform adapters that are not published as packages (NoneBot2 adapter API)."""
