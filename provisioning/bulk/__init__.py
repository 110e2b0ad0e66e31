"""Many accounts at once: the CSV import (online, and offline into a stopped directory) and the
CSV export. The CSV rules they share with the roster and the migration list are
provisioning/csvrows.py and csvcells.py."""
