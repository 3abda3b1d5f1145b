"""Benchmarks (`make bench`): each scenario prints a table with the peer measured in the same run."""
