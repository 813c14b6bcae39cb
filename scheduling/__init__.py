"""Customer re-seed schedules: Temporal Schedules plus the rows that say who owns them."""
