"""Everything that exists only to simulate or demo, never imported by a product package.

The simulated companies, the SendGrid-compatible sink server, the world's HTTP client, the demo runtime and
sample builders for tests and benchmarks.

No product package imports this one (an import contract in ``make check`` enforces it); only ``cli`` command
registration and ``flows`` may.
"""
