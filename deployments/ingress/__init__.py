"""HTTP ingress: validates requests and forwards them to the graph."""
