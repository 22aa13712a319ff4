"""Storage: tables, migrations and repositories (rows <-> domain objects)."""
