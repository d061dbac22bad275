"""Composition of the deployments into one Ray Serve application, and its tools."""
