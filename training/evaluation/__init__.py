"""Full-ranking evaluation over all items."""
