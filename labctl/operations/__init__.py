"""Running a lab unattended: the queue server, schedules and the OPC UA status server.

* :mod:`~labctl.operations.qserver` — bluesky-queueserver (Redis + RE Manager) for the lab;
* :mod:`~labctl.operations.schedule` — campaigns at a time or on a cron recurrence;
* :mod:`~labctl.operations.status_server` — the lab's status as an OPC UA tree.
"""
