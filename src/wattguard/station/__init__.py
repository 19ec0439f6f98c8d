"""wattguard.station: the master station (commands and their authorisation; storage,
collection, the security monitor and the API as they land)."""
