"""A release: which chart versions, which bytes, and the pipeline that publishes them everywhere."""
