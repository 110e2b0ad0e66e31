"""What the stack publishes about itself: DNS records, client autoconfiguration documents and
the settings shown to people."""
