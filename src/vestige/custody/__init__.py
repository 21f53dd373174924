"""Chain of custody: case bundles, signed hash-chained custody log, attestations, verify, disclosure."""
