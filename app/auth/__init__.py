"""Who is asking: accounts, sessions, and the access rules every route and socket declares."""
