"""The publishing channels, one subpackage each, all speaking :mod:`chartship.channels.contract`."""
