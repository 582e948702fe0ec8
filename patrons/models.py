"""Patrons and their reading-list submissions (filled by the patrons issue)."""
