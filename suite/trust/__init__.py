"""Who signed what: signing keys, Ed25519 signatures over canonical JSON, and verifying a signed file."""
