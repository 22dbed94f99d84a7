"""Reports: MTTA, MTTR, recovery-SLO attainment and time-to-engage over time, and overdue action items."""
