"""What sensors, triggers and sync operators share about a portal's records, over any hook.

* :mod:`.timestamps`: reading and writing the portal's time values.
* :mod:`.entities`: how each CRM entity is read (methods, ID / stage / modified-time fields).
* :mod:`.changes`: the one change detector, a (modified second, ID) cursor over a list method.
* :mod:`.probes`: one look for a condition ("deal 42 reached WON"), shared by the sensors'
  pokes and the deferrable trigger.
* :mod:`.offline`: the offline event queue: look, reserve, take back stranded batches, confirm.

Nothing here imports Airflow: a hook is anything with ``call`` and ``paginate``.
"""
