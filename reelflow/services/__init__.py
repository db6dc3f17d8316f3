"""Use cases shared by the API, the workers and the schedules, one module per area: the one
place a business rule runs.

A service function takes a session (the caller owns the transaction) and typed inputs,
enforces the rules, calls repositories and enqueues jobs (pushed after the caller
commits). Adapters (blob store, platform clients, clock, mail) are passed in, typed by a
Protocol; they are chosen at one composition point, never constructed here. Routes, tasks
and flows are thin shells over these functions.
"""
