"""The catalog: books (Open Library works) and their versions (filled by the ingestion issue)."""
