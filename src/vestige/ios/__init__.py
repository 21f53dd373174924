"""iOS acquisitions and their artifacts."""
