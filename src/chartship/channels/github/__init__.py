"""The GitHub releases channel: one release per chart version, the archive as its asset."""
