"""Features, labels and outcome definitions, all point in time.

In: the warehouse's raw tables and a cutoff. Out: one feature row per customer active at the cutoff (only data from
before it), labels from later data only, and the one definition of each outcome (need, retained, treated).
"""
