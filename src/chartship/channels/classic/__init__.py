"""The classic channel: index.yaml on the pages branch, served over HTTP.

Its configuration key is ``channels.pages`` (kept for compatibility with
existing chartship.yaml files); everywhere else it is the classic channel.
"""
