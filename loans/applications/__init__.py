"""Applications: the state machine (transitions.py), submission and decision (services.py), booking the loan
(booking.py), exposure reads, the tasks, and how an application and a loan look to a partner
(representations.py)."""
