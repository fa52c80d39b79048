"""The alert listener (``pyros alert listen``): the Comet broker, GCN Kafka and a drop folder feed
one spool; each packet is decided once by ``tasks.alerts.handle.handle_packet`` (docs/alerts.md)."""
