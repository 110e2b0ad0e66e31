"""Many accounts at once: the roster of graduates, the CSV import and export, and the CSV rules
they share."""
