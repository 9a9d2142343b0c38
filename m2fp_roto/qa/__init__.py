"""Quality figures that tests assert and benchmarks print (fit, boundary, jitter, keys, loops)."""
