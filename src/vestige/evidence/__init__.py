"""Reading acquisitions safely: the Acquisition contract, SQLite/plist access, hashing, Merkle trees."""
