"""Notifications: an inbox per user and e-mail, derived from the audit trail and never written around it.

    audit events (after a stored cursor) + clocks --kinds--> what happened --recipients--> inbox items
    inbox items --preferences--> inbox only | e-mail now | the daily digest --mail--> SMTP

The modules that write the events know nothing of this package: the notifier reads what they appended.
"""
