"""What an operator watches: Prometheus metrics (`metrics`, `exposition`) and where their
per-process files live (`multiprocess`)."""
