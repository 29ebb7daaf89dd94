"""Alarm notifications: tell the right person, and keep telling until someone takes it.

The notifier reads alarm raises and clears from the alarm log (whatever raised them: a station,
the ingest's quarantine, the supervisor's own rules) and acknowledgements from the alarm table,
and sends messages over the configured channels to the people on call (rota.py), escalating
while nobody acknowledges. Modules: config (the [notify] section), rota (who is on call),
messages (the texts, Chinese or English), links (signed acknowledgement links), channels and
robots / mail / sms / webhook (the protocols), delivery (retries with back-off), notifier (the
engine: incidents, suppression, escalation, digest).
"""
