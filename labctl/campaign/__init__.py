"""Closed-loop campaigns on a lab: run one, read its history, gate proposals, check preconditions.

* :mod:`~labctl.campaign.runner` — build a campaign from its config and run it on a lab;
* :mod:`~labctl.campaign.history` — a campaign's experiments read back from the store;
* :mod:`~labctl.campaign.approvals` — proposals outside the envelope wait for an operator;
* :mod:`~labctl.campaign.preconditions` — whether a lab may start a campaign now.
"""
