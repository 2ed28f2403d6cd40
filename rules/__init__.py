"""Rule schemas and the versioned rule files they load (rules/v1/*.toml)."""
