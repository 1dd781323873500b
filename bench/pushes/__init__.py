"""`bench/pushes/run`: wallet pushes per second of `loyalty worker`, and a stamp's wait for its push."""
