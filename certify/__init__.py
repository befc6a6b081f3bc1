"""provider-certify: plays Seam against any provider base URL, over HTTP only.

Each check is a named function in `certify.checks.*`, registered with
`certify.registry.check`; `certify.runner.run` executes them in order and
`certify.report` renders the results.
"""
