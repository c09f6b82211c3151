"""The OCI channel: the registry client, helm's config blob, Artifact Hub metadata and the push."""
