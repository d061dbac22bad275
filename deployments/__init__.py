"""One module per Ray Serve deployment of the RAG graph."""
