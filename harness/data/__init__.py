"""Data in and identified: manifests, downloads, Hub snapshots, checks, fingerprints, fixture builders."""
