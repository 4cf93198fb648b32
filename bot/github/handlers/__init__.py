"""One small handler module per event or command family; the router joins them."""
