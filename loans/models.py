# Applications, offers, loans and reviews arrive with the apply-flow and partner-API issues.
