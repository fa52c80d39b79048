"""Everything physical: one small interface per capability, one TCP client shape, the device
gateways holding the lease. No Prefect imports here."""
