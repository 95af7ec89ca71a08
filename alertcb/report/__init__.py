"""Reports: the end-of-training summary, progress digests, the loss-curve picture, report files.

Internal: the public entry points are `alertcb.keras.SummaryReport`, `ProgressDigest` and the
`alertcb report` command.

- ``tracker``: `SummaryTracker`, fed by the training hooks and the notifier's events; its parts
  ``_epochs`` (per-epoch log), ``_alerts`` (alerts, markers, timeline), ``_batches`` (per-batch
  loss), ``_pace`` (steps, timing, ETA), ``status`` (status rules), ``replay`` (from a log).
- ``summary`` / ``parts`` / ``timeline``: the typed `Summary` (to_dict/from_dict) and its pieces.
- ``progress`` / ``digest``: the typed `Progress` and `ProgressDigest`.
- ``plot``: the picture (matplotlib, imported lazily). ``artifacts``: report.html/loss_curve.png.
- ``command``: ``alertcb report RUN_DIR``.
"""
