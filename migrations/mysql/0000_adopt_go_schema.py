"""Adopt a database that the Go service created: convert its tables in place to this schema.

It runs before 0001, which then finds the tables in shape and creates only what is missing.
On an empty database, and on one that already has this schema, it changes nothing.
"""

from yoyo import step

from service.adopt import adopt_go_schema

# MySQL commits DDL by itself; every step checks the current schema, so a rerun finishes the job.
__transactional__ = False

steps = [step(adopt_go_schema)]
