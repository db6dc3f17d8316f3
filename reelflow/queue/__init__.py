"""The job runtime on RQ: enqueue(), retry policies, runs and events, workers, recovery.

The only package that imports rq.
"""
