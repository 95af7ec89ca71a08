"""Reports: the summary tracker, the typed summary, progress digests, artifacts and the picture.

Internal: the public entry points are `alertcb.keras.SummaryReport`, `ProgressDigest` and the
`alertcb report` command.
"""
